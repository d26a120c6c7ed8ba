import Foundation
import Multiformats
import Sodium
import Store

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A node's repo on disk: its identity, configuration and datastore.
///
/// ```
/// <repo>/version        repo format version ("1"), written last by init
/// <repo>/identity.key   libp2p protobuf Ed25519 private key, mode 0600
/// <repo>/config.json    listen and API addresses, bootstrap peers
/// <repo>/datastore/     LevelDB (snappy): blocks and every other keyspace
/// <repo>/repo.lock      held (flock) while the repo is open
/// ```
///
/// Opening checks everything before it changes anything: a repo of an unknown version or with a
/// broken config is reported and left as it was.
public final class Repo: Sendable {
    /// The repo format this build reads and writes. Later versions bring migrations.
    public static let currentVersion = 1

    public let path: String
    public let config: RepoConfig
    public let identity: Ed25519.PrivateKey
    public let database: Database
    public let blockstore: Blockstore
    private let lock: RepoLock

    /// The node's peer ID, derived from its identity key.
    public var peerID: PeerID { config.peerID }

    private init(path: String, config: RepoConfig, identity: Ed25519.PrivateKey, database: Database, lock: RepoLock) {
        self.path = path
        self.config = config
        self.identity = identity
        self.database = database
        self.blockstore = Blockstore(database: database)
        self.lock = lock
    }

    /// The repo directory to use: the explicit one, else `$THREADS_REPO`, else `~/.threads`.
    public static func resolvePath(_ explicit: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        let env = ProcessInfo.processInfo.environment
        if let fromEnv = env["THREADS_REPO"], !fromEnv.isEmpty { return fromEnv }
        return (env["HOME"] ?? NSHomeDirectory()) + "/.threads"
    }

    static func paths(_ root: String) -> (
        version: String, identity: String, config: String, datastore: String, lock: String
    ) {
        (root + "/version", root + "/identity.key", root + "/config.json", root + "/datastore", root + "/repo.lock")
    }

    /// Creates a repo with a fresh identity and default config, and opens it.
    ///
    /// - Parameters:
    ///   - path: the repo directory; created if missing, and must not already hold a repo.
    ///   - configure: adjusts the default config before it is written (listen addresses, bootstrap).
    public static func initialize(
        at path: String,
        configure: (inout RepoConfig) -> Void = { _ in }
    ) throws -> Repo {
        let p = paths(path)
        let fm = FileManager.default
        if fm.fileExists(atPath: p.version) || fm.fileExists(atPath: p.config) || fm.fileExists(atPath: p.identity) {
            throw RepoError.alreadyExists(path: path)
        }
        do {
            try fm.createDirectory(
                atPath: path,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw RepoError.io(path: path, operation: "create directory", errno: errno)
        }
        let lock = try RepoLock(path: p.lock)
        let identity = Ed25519.PrivateKey()
        var config = RepoConfig.defaults(for: identity.publicKey.peerID)
        configure(&config)
        config.peerID = identity.publicKey.peerID

        try writeFileAtomically(p.identity, identity.protobufBytes, mode: 0o600)
        try writeFileAtomically(p.config, [UInt8](config.serialized()), mode: 0o644)
        _ = try apiToken(at: path)
        let database = try Database(path: p.datastore, options: .init(createIfMissing: true))
        // The version file marks a finished init: a repo without it is reported as not initialised.
        try writeFileAtomically(p.version, Array("\(currentVersion)\n".utf8), mode: 0o644)
        return Repo(path: path, config: config, identity: identity, database: database, lock: lock)
    }

    /// Whether a process (a running `threadsd`) has the repo at `path` open.
    public static func isInUse(at path: String) -> Bool {
        RepoLock.isHeld(repo: path)
    }

    /// The API's bearer token, `<repo>/api.token` (mode 0600), made on first use: 32 random
    /// bytes as hex.
    public static func apiToken(at path: String) throws -> String {
        let file = path + "/api.token"
        if let data = FileManager.default.contents(atPath: file) {
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !token.isEmpty { return token }
        }
        let token = Random.bytes(count: 32).map {
            String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16)
        }
        .joined()
        try writeFileAtomically(file, Array((token + "\n").utf8), mode: 0o600)
        return token
    }

    /// Opens an existing repo, checking its version, config and identity before touching anything.
    public static func open(at path: String) throws -> Repo {
        let p = paths(path)
        guard let versionBytes = FileManager.default.contents(atPath: p.version) else {
            throw RepoError.notInitialized(path: path)
        }
        let versionText = String(decoding: versionBytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard Int(versionText) == currentVersion else {
            throw RepoError.unsupportedVersion(path: path, found: versionText, supported: currentVersion)
        }
        guard let configData = FileManager.default.contents(atPath: p.config) else {
            throw RepoError.invalidConfig(path: p.config, field: nil, reason: "file is missing")
        }
        let config = try RepoConfig.parse(configData, path: p.config)
        let identity = try readIdentity(p.identity)
        guard identity.publicKey.peerID == config.peerID else {
            throw RepoError.invalidIdentity(
                path: p.identity,
                reason: "its peer ID \(identity.publicKey.peerID) differs from \(config.peerID) in config.json"
            )
        }
        let lock = try RepoLock(path: p.lock)
        let database = try Database(path: p.datastore, options: .init(createIfMissing: false))
        return Repo(path: path, config: config, identity: identity, database: database, lock: lock)
    }

    static func readIdentity(_ path: String) throws -> Ed25519.PrivateKey {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw RepoError.invalidIdentity(path: path, reason: "cannot read it (\(String(cString: strerror(errno))))")
        }
        let mode = UInt32(info.st_mode) & 0o777
        guard mode & 0o077 == 0 else { throw RepoError.insecurePermissions(path: path, mode: mode) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RepoError.invalidIdentity(path: path, reason: "cannot read it")
        }
        do {
            return try Ed25519.PrivateKey(protobufBytes: [UInt8](data))
        } catch {
            throw RepoError.invalidIdentity(path: path, reason: "\(error)")
        }
    }

    /// Writes a file so that a crash leaves either the old content or the new, never a torn file.
    static func writeFileAtomically(_ path: String, _ data: some ContiguousBytes, mode: mode_t) throws(RepoError) {
        let temp = path + ".tmp"
        let fd = Glibc.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .io(path: temp, operation: "create", errno: errno) }
        var written = 0
        let total = data.withUnsafeBytes { $0.count }
        while written < total {
            let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(fd)
                throw .io(path: temp, operation: "write", errno: code)
            }
            written += n
        }
        // The mode given to open is masked by umask; the key file must be exactly 0600.
        fchmod(fd, mode)
        guard fsync(fd) == 0 else {
            let code = errno
            close(fd)
            throw .io(path: temp, operation: "fsync", errno: code)
        }
        close(fd)
        guard rename(temp, path) == 0 else { throw .io(path: path, operation: "rename", errno: errno) }
        let dir = Glibc.open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}
