import Multiformats

extension Multiaddr {
    /// `/ip4|ip6/…/tcp/…`: an address peers dial for the transport (not the DHT's UDP one).
    var isTCP: Bool { components.count > 1 && components[1].proto == .tcp }

    /// `/ip4|ip6/…/udp/…`.
    var isUDP: Bool { components.count > 1 && components[1].proto == .udp }
}
