import Multiformats
import Sodium

/// A thread's keys: the service key (replication: record wrappers) and, for members who may read,
/// the read key (event headers, hence bodies). A replica holds only the service key.
///
/// String form: multibase base32 of `service ‖ read` (64 bytes) or of `service` alone (32 bytes).
public struct ThreadKey: Sendable, Equatable, CustomStringConvertible {
    public let service: SymmetricKey
    public let read: SymmetricKey?

    public init(service: SymmetricKey = SymmetricKey(), read: SymmetricKey? = SymmetricKey()) {
        self.service = service
        self.read = read
    }

    public var canRead: Bool { read != nil }

    /// The same thread key without the read key: what a replica is given.
    public var serviceOnly: ThreadKey { ThreadKey(service: service, read: nil) }

    public init(bytes: [UInt8]) throws(ThreadsError) {
        guard bytes.count == 32 || bytes.count == 64 else {
            throw .invalidKey("\(bytes.count) bytes, expected 32 (service) or 64 (service and read)")
        }
        do {
            service = try SymmetricKey(bytes: Array(bytes[0..<32]))
            read = bytes.count == 64 ? try SymmetricKey(bytes: Array(bytes[32..<64])) : nil
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
        if let read { out += read.withUnsafeBytes { Array($0) } }
        return out
    }

    /// The secret string form (for invites).
    public var secretString: String { Multibase.encode(bytes, as: .base32) }

    /// Redacted: keys never end up in logs by accident.
    public var description: String { canRead ? "ThreadKey(service, read)" : "ThreadKey(service)" }
}
