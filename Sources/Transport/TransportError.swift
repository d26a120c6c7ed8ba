import Multiformats

/// Why a secure channel could not be set up or used.
public enum TransportError: Error, CustomStringConvertible, Hashable, Sendable {
    /// A handshake message of the wrong size or shape for its position in the XX pattern.
    case malformedHandshake(message: Int, reason: String)
    /// A handshake or transport message failed authentication (tampered, or wrong keys).
    case decryptionFailed(stage: String)
    /// The remote's libp2p handshake payload is missing, malformed, or its signature is wrong.
    case invalidIdentity(reason: String)
    /// The remote proved an identity other than the one dialled (`/p2p/<peer>` in the address).
    case peerMismatch(expected: PeerID, actual: PeerID)
    /// A call out of order (e.g. writing when a message must be read next).
    case outOfOrder(String)
    /// A transport message larger than a Noise message can carry.
    case messageTooLarge(size: Int, limit: Int)
    /// The cipher's nonce counter is used up; the connection must be closed.
    case nonceExhausted
    /// A multiaddr this transport cannot listen on or dial.
    case unsupportedAddress(String)
    /// A multiplexed frame that breaks the format.
    case malformedFrame(String)
    /// No handler for the protocol a request named.
    case unknownProtocol(String)
    /// The remote answered a request with an error.
    case remoteError(String)
    /// No reply within the request's timeout.
    case timedOut(protocolName: String, after: Duration)
    /// The connection closed before the call finished.
    case connectionClosed
    /// Dialling this peer failed recently; the next attempt is allowed after a wait.
    case backoff(peer: PeerID, retryIn: Duration)
    /// No address is known for the peer.
    case noAddresses(PeerID)
    /// The peer keeps sending pings or unanswerable requests while it reads none of the answers:
    /// this many replies and control frames wait unsent.
    case unreadReplies(queued: Int)
    /// The connection manager has shut down: it neither dials nor keeps new connections.
    case shutDown

    public var description: String {
        switch self {
        case .malformedHandshake(let message, let reason):
            return "noise: malformed handshake message \(message + 1): \(reason)"
        case .decryptionFailed(let stage):
            return "noise: authentication failed in \(stage) (tampered data or wrong keys)"
        case .invalidIdentity(let reason):
            return "noise: the remote's identity proof is invalid: \(reason)"
        case .peerMismatch(let expected, let actual):
            return "noise: dialled \(expected) but the remote proved it is \(actual)"
        case .outOfOrder(let what):
            return "noise: \(what)"
        case .messageTooLarge(let size, let limit):
            return "noise: message of \(size) bytes exceeds the limit of \(limit)"
        case .nonceExhausted:
            return "noise: nonce space exhausted; the connection must be closed"
        case .malformedFrame(let reason):
            return "mux: malformed frame: \(reason)"
        case .unknownProtocol(let name):
            return "mux: no handler for protocol \(name)"
        case .remoteError(let reason):
            return "mux: the remote failed the request: \(reason)"
        case .timedOut(let name, let after):
            return "mux: \(name) request timed out after \(after)"
        case .connectionClosed:
            return "mux: the connection closed"
        case .backoff(let peer, let wait):
            return "transport: dialling \(peer) failed recently; next attempt allowed in \(wait)"
        case .noAddresses(let peer):
            return "transport: no known address for \(peer)"
        case .unreadReplies(let queued):
            return "mux: \(queued) replies and control frames wait unsent: the peer sends without reading"
        case .shutDown:
            return "transport: the node is shutting down"
        case .unsupportedAddress(let address):
            return
                "transport: cannot use '\(address)': expected /ip4/<addr>/tcp/<port> or /ip6/<addr>/tcp/<port>, optionally /p2p/<peer>"
        }
    }
}
