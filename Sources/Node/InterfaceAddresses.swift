import Multiformats
import NIOCore

/// Turns listen addresses into addresses others can dial: a wildcard host (`0.0.0.0`, `::`) stands
/// for every address of this machine's interfaces.
enum InterfaceAddresses {
    /// The dialable forms of `address`. Loopback is only kept when the machine has nothing else
    /// (a remote peer dialling 127.0.0.1 would reach itself).
    static func expand(_ address: Multiaddr) -> [Multiaddr] {
        let parts = address.components
        guard parts.count >= 2, let host = parts[0].valueString, host == "0.0.0.0" || host == "::" else {
            return [address]
        }
        let wantIPv6 = host == "::"
        var found: [String] = []
        var loopback: [String] = []
        for device in (try? System.enumerateDevices()) ?? [] {
            guard let socketAddress = device.address, let ip = socketAddress.ipAddress else { continue }
            let isIPv6 = socketAddress.protocol == .inet6
            guard isIPv6 == wantIPv6 else { continue }
            if isIPv6 && ip.lowercased().hasPrefix("fe80") { continue }  // link-local needs a zone
            if ip == "127.0.0.1" || ip == "::1" {
                loopback.append(ip)
            } else if !found.contains(ip) {
                found.append(ip)
            }
        }
        let hosts = found.isEmpty ? loopback : found
        return hosts.compactMap { ip in
            guard let component = try? Multiaddr.Component(proto: parts[0].proto, string: ip) else { return nil }
            return try? Multiaddr(components: [component] + parts.dropFirst())
        }
    }
}
