import Foundation
import Multiformats
import Sodium

/// An invitation to a thread: one string that starts with the inviter's multiaddr and thread,
/// `/ip4/…/tcp/…/p2p/<peer>/thread/<thread ID>`, followed by
/// `?role=<role>&key=<thread key>[&owner=<owner log>][&log=<log key seed>]`.
/// Secret: whoever holds the string gets the role.
public struct Invite: Sendable, Equatable, CustomStringConvertible {
    public enum Role: String, Sendable, CaseIterable {
        /// Reads and appends to its own log.
        case writer
        /// Reads; its records are refused by every honest member.
        case reader
        /// Stores and forwards ciphertext only (gets the service key alone).
        case replica
    }

    /// The inviter's address, ending in `/p2p/<peer>`.
    public let address: Multiaddr
    public let thread: ThreadID
    public let role: Role
    public let key: ThreadKey
    /// The owner's log (access-controlled threads): whose log carries the access log.
    public let owner: PeerID?
    /// The log key the owner admitted for this member (writers and readers of access-controlled
    /// threads): the member writes (or is sealed new read keys) under it.
    public let logKey: Ed25519.PrivateKey?

    public init(
        address: Multiaddr,
        thread: ThreadID,
        role: Role,
        key: ThreadKey,
        owner: PeerID? = nil,
        logKey: Ed25519.PrivateKey? = nil
    ) throws(ThreadsError) {
        guard address.peerID != nil else { throw .invalidInvite("an invite address ends in /p2p/<peer ID>") }
        if role != .replica && !key.canRead { throw .notAllowed("a \(role.rawValue) invite needs the read key") }
        if thread.variant == .accessControlled {
            guard owner != nil else { throw .invalidInvite("an invite to an access-controlled thread names its owner") }
            guard role == .replica || logKey != nil else {
                throw .invalidInvite(
                    "a \(role.rawValue) invite to an access-controlled thread carries the admitted log key"
                )
            }
        }
        self.address = address
        self.thread = thread
        self.role = role
        self.key = role == .replica ? key.serviceOnly : key
        self.owner = owner
        self.logKey = role == .replica ? nil : logKey
    }

    public var inviter: PeerID { address.peerID! }

    public var description: String {
        var text = "\(address)/thread/\(thread)?role=\(role.rawValue)&key=\(key.secretString)"
        if let owner { text += "&owner=\(owner)" }
        if let logKey { text += "&log=" + Multibase.encode(logKey.seed.unsafeCopy, as: .base32) }
        return text
    }

    public static func == (lhs: Invite, rhs: Invite) -> Bool { lhs.description == rhs.description }

    /// Parses an invite string.
    public init(_ text: String) throws(ThreadsError) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "?", maxSplits: 1).map(
            String.init
        )
        guard parts.count == 2 else { throw .invalidInvite("an invite is <multiaddr>/thread/<id>?role=…&key=…") }
        let full: Multiaddr
        do { full = try Multiaddr(parts[0]) } catch { throw .invalidInvite("its address: \(error)") }
        guard let last = full.components.last, last.proto == .thread,
            let prefix = try? Multiaddr(components: Array(full.components.dropLast()))
        else { throw .invalidInvite("the invite address does not end in /thread/<thread ID>") }
        let thread = try ThreadID(bytes: last.value)
        var fields: [String: String] = [:]
        for pair in parts[1].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw .invalidInvite("bad invite parameter '\(pair.prefix(40))'") }
            fields[kv[0]] = kv[1]
        }
        guard let roleText = fields["role"], let role = Role(rawValue: roleText) else {
            throw .invalidInvite(
                "the invite's role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard let keyText = fields["key"] else { throw .invalidInvite("the invite has no key") }
        let key = try ThreadKey(keyText)
        if role != .replica && !key.canRead {
            throw .invalidInvite("a \(role.rawValue) invite must carry the read key")
        }
        let owner: PeerID?
        do { owner = try fields["owner"].map { try PeerID($0) } } catch {
            throw .invalidInvite("its owner: \(error)")
        }
        var logKey: Ed25519.PrivateKey?
        if let seedText = fields["log"] {
            do { logKey = try Ed25519.PrivateKey(seed: try Multibase.decode(seedText).bytes) } catch {
                throw .invalidInvite("its log key: \(error)")
            }
        }
        try self.init(address: prefix, thread: thread, role: role, key: key, owner: owner, logKey: logKey)
    }
}
