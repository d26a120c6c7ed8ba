import Multiformats

/// What went wrong in the DHT: a datagram that was refused, a request that failed, or a lookup that
/// found nothing.
public enum DHTError: Error, CustomStringConvertible, Equatable {
    /// A datagram or record that does not follow Specs/dht.md.
    case malformed(String)
    /// A datagram larger than the limit.
    case oversized(size: Int, limit: Int)
    /// A signature that does not verify against the sender's key.
    case badSignature(what: String)
    /// A datagram whose timestamp is outside the accepted window, or that was seen before.
    case replayed(String)
    /// An answer to no request in flight.
    case unexpected(String)
    /// No answer within the timeout (after the retries).
    case timeout(peer: PeerID?, address: String)
    /// The remote answered with an error.
    case remote(String)
    /// A multiaddr the DHT cannot use (it needs `/ip4|ip6/…/udp/…`).
    case unsupportedAddress(String)
    /// The socket could not be bound or is closed.
    case socket(String)
    /// Another socket holds the address (`/ip4|ip6/…/udp/…`) this node was to bind.
    case addressInUse(String)
    /// The node was stopped.
    case stopped

    public var description: String {
        switch self {
        case .malformed(let reason): "malformed DHT message: \(reason)"
        case .oversized(let size, let limit): "DHT datagram of \(size) bytes exceeds the \(limit)-byte limit"
        case .badSignature(let what): "bad signature on \(what)"
        case .replayed(let reason): "replayed or stale DHT datagram: \(reason)"
        case .unexpected(let reason): "unexpected DHT answer: \(reason)"
        case .timeout(let peer, let address):
            "no DHT answer from \(peer.map { "\($0) at " } ?? "")\(address) in time"
        case .remote(let message): "the remote DHT node refused: \(message)"
        case .unsupportedAddress(let address): "not a DHT address (need /ip4|ip6/<host>/udp/<port>): \(address)"
        case .socket(let reason): "DHT socket: \(reason)"
        case .addressInUse(let address): "DHT socket: \(address) is in use"
        case .stopped: "the DHT node is stopped"
        }
    }
}
