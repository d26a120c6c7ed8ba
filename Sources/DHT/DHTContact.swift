import Multiformats

/// A DHT node as others know it: its peer ID and the UDP endpoint it answers on.
public struct DHTContact: Hashable, Sendable, CustomStringConvertible {
    public let peer: PeerID
    public let endpoint: UDPEndpoint
    /// The node ID, SHA-256 of the peer ID.
    public let key: DHTKey

    public init(peer: PeerID, endpoint: UDPEndpoint) {
        self.peer = peer
        self.endpoint = endpoint
        key = DHTKey(peer: peer)
    }

    /// `/ip4/…/udp/…/p2p/<peer>`.
    public var multiaddr: Multiaddr {
        // A valid peer ID always makes a valid /p2p component.
        try! endpoint.multiaddr.encapsulate(
            Multiaddr(components: [Multiaddr.Component(proto: .p2p, value: peer.bytes)])
        )
    }

    public var description: String { multiaddr.description }
}
