import Multiformats
import NIOCore

/// An IP address and UDP port: where a DHT node is reached. IPv4 addresses have 4 bytes, IPv6 16.
public struct UDPEndpoint: Hashable, Sendable, CustomStringConvertible {
    public let ip: [UInt8]
    public let port: UInt16

    public init(ip: [UInt8], port: UInt16) throws(DHTError) {
        guard ip.count == 4 || ip.count == 16 else {
            throw .malformed("an IP address has 4 or 16 bytes, not \(ip.count)")
        }
        self.ip = ip
        self.port = port
    }

    /// The endpoint of `/ip4|ip6/<host>/udp/<port>[/p2p/<peer>]`.
    public init(_ address: Multiaddr) throws(DHTError) {
        let parts = address.components
        guard parts.count >= 2, parts[0].proto == .ip4 || parts[0].proto == .ip6, parts[1].proto == .udp,
            parts[1].value.count == 2, parts.dropFirst(2).allSatisfy({ $0.proto == .p2p })
        else { throw .unsupportedAddress(address.description) }
        ip = parts[0].value
        port = UInt16(parts[1].value[0]) << 8 | UInt16(parts[1].value[1])
    }

    /// The endpoint of a NIO socket address, when it is an IP one.
    public init(_ address: SocketAddress) throws(DHTError) {
        guard let port = address.port, port >= 0, port <= 65535 else {
            throw .unsupportedAddress("\(address)")
        }
        switch address {
        case .v4(let v4):
            let raw = UInt32(bigEndian: v4.address.sin_addr.s_addr)
            ip = [UInt8(raw >> 24), UInt8(raw >> 16 & 0xff), UInt8(raw >> 8 & 0xff), UInt8(raw & 0xff)]
        case .v6(let v6):
            var storage = v6.address.sin6_addr
            ip = withUnsafeBytes(of: &storage) { Array($0) }
        default:
            throw .unsupportedAddress("\(address)")
        }
        self.port = UInt16(port)
    }

    public var isIPv4: Bool { ip.count == 4 }

    /// `/ip4/…/udp/…` or `/ip6/…/udp/…`.
    public var multiaddr: Multiaddr {
        // Both components are built from validated fixed-size values, so this cannot fail.
        try! Multiaddr(components: [
            Multiaddr.Component(proto: isIPv4 ? .ip4 : .ip6, value: ip),
            Multiaddr.Component(proto: .udp, value: [UInt8(port >> 8), UInt8(port & 0xff)]),
        ])
    }

    /// The NIO socket address to send to.
    public func socketAddress() throws -> SocketAddress {
        try SocketAddress(ipAddress: multiaddr.components[0].valueString ?? "", port: Int(port))
    }

    public var description: String { multiaddr.description }

    /// Loopback, private (RFC 1918, RFC 4193), link-local or CGNAT space: addresses a LAN shares,
    /// where per-range limits would only get in the way.
    public var isPrivate: Bool {
        if isIPv4 {
            switch (ip[0], ip[1]) {
            case (127, _), (10, _), (192, 168), (169, 254): return true
            case (172, let b) where (16...31).contains(b): return true
            case (100, let b) where (64...127).contains(b): return true
            default: return false
            }
        }
        if ip.dropLast().allSatisfy({ $0 == 0 }) && ip[15] == 1 { return true }  // ::1
        if ip[0] & 0xfe == 0xfc { return true }  // fc00::/7
        if ip[0] == 0xfe && ip[1] & 0xc0 == 0x80 { return true }  // fe80::/10
        return false
    }

    /// The address range used for the per-range limits: the /24 of an IPv4 address, the /48 of an
    /// IPv6 one (one site).
    public var rangeGroup: [UInt8] { isIPv4 ? Array(ip.prefix(3)) : Array(ip.prefix(6)) }
}
