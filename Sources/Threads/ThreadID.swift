import Multiformats
import Sodium

/// A thread's identifier in the go-threads format: `varint(version 0x01) ‖ varint(variant) ‖ 32
/// random bytes`, printed as multibase base32 (`b…`).
public struct ThreadID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Variant: UInt64, Sendable {
        /// Anyone holding the keys may write.
        case raw = 0x55
        /// Writers are admitted by the thread's access log.
        case accessControlled = 0x70
    }

    public static let version: UInt64 = 0x01
    public static let randomLength = 32

    public let bytes: [UInt8]
    public let variant: Variant

    /// A new random ID.
    public init(variant: Variant = .accessControlled) {
        var out: [UInt8] = []
        Varint.encode(Self.version, into: &out)
        Varint.encode(variant.rawValue, into: &out)
        bytes = out + Random.bytes(count: Self.randomLength)
        self.variant = variant
    }

    public init(bytes: [UInt8]) throws(ThreadsError) {
        do {
            let (version, versionLength) = try Varint.decode(bytes)
            guard version == Self.version else { throw ThreadsError.invalidThreadID("unknown version \(version)") }
            let (code, variantLength) = try Varint.decode(bytes.dropFirst(versionLength))
            guard let variant = Variant(rawValue: code) else {
                throw ThreadsError.invalidThreadID("unknown variant 0x\(String(code, radix: 16))")
            }
            guard bytes.count == versionLength + variantLength + Self.randomLength else {
                throw ThreadsError.invalidThreadID(
                    "\(bytes.count) bytes, expected \(versionLength + variantLength + Self.randomLength)"
                )
            }
            self.bytes = bytes
            self.variant = variant
        } catch let error as ThreadsError {
            throw error
        } catch {
            throw .invalidThreadID("\(error)")
        }
    }

    /// Parses the multibase string form (any base; base32 is what is printed).
    public init(_ string: String) throws(ThreadsError) {
        let decoded: [UInt8]
        do { decoded = try Multibase.decode(string).bytes } catch {
            throw .invalidThreadID("'\(string.prefix(80))' is not multibase: \(error)")
        }
        try self.init(bytes: decoded)
    }

    public var description: String { Multibase.encode(bytes, as: .base32) }

    public static func < (lhs: ThreadID, rhs: ThreadID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    /// The variant is part of the bytes.
    public static func == (lhs: ThreadID, rhs: ThreadID) -> Bool { lhs.bytes == rhs.bytes }

    public func hash(into hasher: inout Hasher) { hasher.combineBytes(bytes) }
}
