import Multiformats
import Sodium

/// A thread's keys: the service key (replication: record wrappers) and, for members who may read,
/// the read keys (event headers, hence bodies), one per epoch: revoking a member starts a new
/// epoch with a new read key. A replica holds only the service key.
///
/// String form: multibase base32 of `service ‖ read₀ ‖ read₁ ‖ …` (32 bytes each), or of `service`
/// alone.
public struct ThreadKey: Sendable, Equatable, CustomStringConvertible {
    public static let maxEpochs = 1024

    public let service: SymmetricKey
    /// Read keys by epoch (index 0 is the thread's first).
    public let readKeys: [SymmetricKey]

    public init(service: SymmetricKey = SymmetricKey(), read: SymmetricKey? = SymmetricKey()) {
        self.service = service
        readKeys = read.map { [$0] } ?? []
    }

    public init(service: SymmetricKey, readKeys: [SymmetricKey]) {
        self.service = service
        self.readKeys = readKeys
    }

    /// The read key of the current epoch.
    public var read: SymmetricKey? { readKeys.last }

    /// The current epoch (of the newest read key).
    public var epoch: UInt32 { UInt32(max(0, readKeys.count - 1)) }

    public var canRead: Bool { !readKeys.isEmpty }

    public func readKey(epoch: UInt32) -> SymmetricKey? {
        Int(epoch) < readKeys.count ? readKeys[Int(epoch)] : nil
    }

    /// The same thread key without the read keys: what a replica is given.
    public var serviceOnly: ThreadKey { ThreadKey(service: service, readKeys: []) }

    /// This key with `read` as the next epoch's read key.
    public func rotated(to read: SymmetricKey) -> ThreadKey {
        ThreadKey(service: service, readKeys: readKeys + [read])
    }

    public init(bytes: [UInt8]) throws(ThreadsError) {
        guard bytes.count >= 32, bytes.count % 32 == 0, bytes.count / 32 - 1 <= Self.maxEpochs else {
            throw .invalidKey("\(bytes.count) bytes, expected 32 (service) plus 32 per read key")
        }
        do {
            service = try SymmetricKey(bytes: Array(bytes[0..<32]))
            readKeys = try stride(from: 32, to: bytes.count, by: 32).map {
                try SymmetricKey(bytes: Array(bytes[$0..<$0 + 32]))
            }
        } catch {
            throw .invalidKey("\(error)")
        }
    }

    public init(_ string: String) throws(ThreadsError) {
        let decoded: [UInt8]
        do { decoded = try Multibase.decode(string).bytes } catch { throw .invalidKey("not multibase: \(error)") }
        try self.init(bytes: decoded)
    }

    /// The raw key bytes. Secret: only for the store and for invites the user asked for.
    public var bytes: [UInt8] {
        var out = service.withUnsafeBytes { Array($0) }
        for key in readKeys { out += key.withUnsafeBytes { Array($0) } }
        return out
    }

    /// The secret string form (for invites).
    public var secretString: String { Multibase.encode(bytes, as: .base32) }

    /// Redacted: keys never end up in logs by accident.
    public var description: String {
        canRead ? "ThreadKey(service, read keys of epochs 0…\(epoch))" : "ThreadKey(service)"
    }
}
