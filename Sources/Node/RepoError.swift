#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a node repo could not be created or opened. Every case names the path involved, and none of
/// them leaves the repo changed.
public enum RepoError: Error, CustomStringConvertible, Sendable {
    /// `init` found a repo already there.
    case alreadyExists(path: String)
    /// No repo at the path: it was never initialised (or `init` did not finish).
    case notInitialized(path: String)
    /// The repo was written by a version of swift-threads this build does not understand.
    case unsupportedVersion(path: String, found: String, supported: Int)
    /// Another process (or another handle in this one) has the repo open.
    case locked(path: String, holder: String?)
    /// `config.json` is not valid JSON or breaks a rule; `field` names where.
    case invalidConfig(path: String, field: String?, reason: String)
    /// `identity.key` is missing, unreadable or not a libp2p Ed25519 private key.
    case invalidIdentity(path: String, reason: String)
    /// The identity key file is readable by others: keys never leave the node unencrypted.
    case insecurePermissions(path: String, mode: UInt32)
    /// A filesystem call failed.
    case io(path: String, operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .alreadyExists(let path):
            return "a repo already exists at \(path)"
        case .notInitialized(let path):
            return "no repo at \(path): run `threads init --repo \(path)` first"
        case .unsupportedVersion(let path, let found, let supported):
            return "the repo at \(path) has version '\(found)', but this build supports version \(supported); "
                + "it was left unchanged"
        case .locked(let path, let holder):
            let who = holder.map { " (held by process \($0))" } ?? ""
            return "the repo at \(path) is in use by another process\(who)"
        case .invalidConfig(let path, let field, let reason):
            let where_ = field.map { " at '\($0)'" } ?? ""
            return "invalid config \(path)\(where_): \(reason)"
        case .invalidIdentity(let path, let reason):
            return "invalid identity key \(path): \(reason)"
        case .insecurePermissions(let path, let mode):
            return
                "identity key \(path) has mode \(String(mode, radix: 8)); it must be readable by its owner only (0600)"
        case .io(let path, let operation, let code):
            return "\(operation) \(path) failed: \(String(cString: strerror(code)))"
        }
    }
}
