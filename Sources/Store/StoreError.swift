/// Why a datastore operation failed. Every case names the datastore path or the key involved.
public enum StoreError: Error, CustomStringConvertible, Hashable, Sendable {
    /// Another process (or another open handle in this one) holds the datastore's lock.
    case locked(path: String)
    /// No datastore at the path, and creating one was not asked for.
    case notFound(path: String)
    /// LevelDB found corrupt data.
    case corruption(path: String, message: String)
    /// A filesystem error inside LevelDB.
    case io(path: String, message: String)
    /// The datastore was closed before this call.
    case closed(path: String)
    /// A block whose bytes no longer hash to its CID (verify-on-read).
    case corruptBlock(cid: String)
    /// A stored value that does not decode as its keyspace expects.
    case invalidValue(key: String, reason: String)
    /// Any other LevelDB error, with its message.
    case other(path: String, message: String)

    public var description: String {
        switch self {
        case .locked(let path):
            return "the datastore at \(path) is in use by another process"
        case .notFound(let path):
            return "no datastore at \(path)"
        case .corruption(let path, let message):
            return "the datastore at \(path) is corrupt: \(message)"
        case .io(let path, let message):
            return "I/O error in the datastore at \(path): \(message)"
        case .closed(let path):
            return "the datastore at \(path) is closed"
        case .corruptBlock(let cid):
            return "block \(cid) is corrupt: its bytes do not hash to its CID"
        case .invalidValue(let key, let reason):
            return "invalid value stored under \(key): \(reason)"
        case .other(let path, let message):
            return "datastore \(path): \(message)"
        }
    }

    /// Maps a LevelDB status message to a case.
    static func from(leveldb message: String, path: String) -> StoreError {
        if message.contains("lock") && (message.contains("temporarily unavailable") || message.contains("already held"))
        {
            return .locked(path: path)
        }
        if message.contains("does not exist") { return .notFound(path: path) }
        if message.hasPrefix("Corruption") { return .corruption(path: path, message: message) }
        if message.hasPrefix("IO error") { return .io(path: path, message: message) }
        return .other(path: path, message: message)
    }
}
