import Multiformats

/// An invitation to a thread: one string that starts with the inviter's multiaddr and thread,
/// `/ip4/…/tcp/…/p2p/<peer>/thread/<thread ID>`, followed by `?role=<role>&key=<thread key>`.
/// The key part is secret: whoever holds the string gets the role.
public struct Invite: Sendable, Equatable, CustomStringConvertible {
    public enum Role: String, Sendable, CaseIterable {
        /// Reads and appends to its own log.
        case writer
        /// Stores and forwards ciphertext only (gets the service key alone).
        case replica
    }

    /// The inviter's address, ending in `/p2p/<peer>`.
    public let address: Multiaddr
    public let thread: ThreadID
    public let role: Role
    public let key: ThreadKey

    public init(address: Multiaddr, thread: ThreadID, role: Role, key: ThreadKey) throws(ThreadsError) {
        guard address.peerID != nil else { throw .malformed("an invite address ends in /p2p/<peer ID>") }
        self.address = address
        self.thread = thread
        self.role = role
        self.key = role == .replica ? key.serviceOnly : key
        if role == .writer && !key.canRead {
            throw .notAllowed("a writer invite needs the read key, which this node lacks")
        }
    }

    public var inviter: PeerID { address.peerID! }

    public var description: String {
        "\(address)/thread/\(thread)?role=\(role.rawValue)&key=\(key.secretString)"
    }

    /// Parses an invite string.
    public init(_ text: String) throws(ThreadsError) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "?", maxSplits: 1).map(
            String.init
        )
        guard parts.count == 2 else { throw .malformed("an invite is <multiaddr>/thread/<id>?role=…&key=…") }
        let full: Multiaddr
        do { full = try Multiaddr(parts[0]) } catch { throw .malformed("invite address: \(error)") }
        guard let last = full.components.last, last.proto == .thread,
            let prefix = try? Multiaddr(components: Array(full.components.dropLast()))
        else { throw .malformed("the invite address does not end in /thread/<thread ID>") }
        let thread = try ThreadID(bytes: last.value)
        var fields: [String: String] = [:]
        for pair in parts[1].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw .malformed("bad invite parameter '\(pair.prefix(40))'") }
            fields[kv[0]] = kv[1]
        }
        guard let roleText = fields["role"], let role = Role(rawValue: roleText) else {
            throw .malformed(
                "the invite's role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard let keyText = fields["key"] else { throw .malformed("the invite has no key") }
        let key = try ThreadKey(keyText)
        if role == .writer && !key.canRead { throw .malformed("a writer invite must carry the read key") }
        try self.init(address: prefix, thread: thread, role: role, key: key)
    }
}
