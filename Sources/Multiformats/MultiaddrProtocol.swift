#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A multiaddr protocol this project implements: its code, name and how its value is encoded.
public struct MultiaddrProtocol: Hashable, Sendable {
    /// How a protocol's value is laid out in the binary form.
    public enum ValueSize: Hashable, Sendable {
        /// No value (`/quic-v1`).
        case none
        /// A fixed number of bytes (`/ip4`: 4, `/tcp`: 2).
        case fixed(Int)
        /// A varint length, then the bytes (`/dns4`, `/p2p`, `/thread`).
        case lengthPrefixed
    }

    public let code: UInt64
    public let name: String
    public let size: ValueSize

    public static let ip4 = MultiaddrProtocol(code: 4, name: "ip4", size: .fixed(4))
    public static let tcp = MultiaddrProtocol(code: 6, name: "tcp", size: .fixed(2))
    public static let ip6 = MultiaddrProtocol(code: 41, name: "ip6", size: .fixed(16))
    public static let dns = MultiaddrProtocol(code: 53, name: "dns", size: .lengthPrefixed)
    public static let dns4 = MultiaddrProtocol(code: 54, name: "dns4", size: .lengthPrefixed)
    public static let dns6 = MultiaddrProtocol(code: 55, name: "dns6", size: .lengthPrefixed)
    public static let udp = MultiaddrProtocol(code: 273, name: "udp", size: .fixed(2))
    public static let thread = MultiaddrProtocol(code: 406, name: "thread", size: .lengthPrefixed)
    public static let p2p = MultiaddrProtocol(code: 421, name: "p2p", size: .lengthPrefixed)
    public static let quicV1 = MultiaddrProtocol(code: 461, name: "quic-v1", size: .none)

    /// Every protocol this project reads and writes.
    public static let all: [MultiaddrProtocol] = [ip4, tcp, ip6, dns, dns4, dns6, udp, thread, p2p, quicV1]

    /// `/ipfs/` is the old name of `/p2p/`: accepted on input, printed as `/p2p/`.
    static func named(_ name: String) -> MultiaddrProtocol? {
        name == "ipfs" ? p2p : all.first { $0.name == name }
    }

    static func withCode(_ code: UInt64) -> MultiaddrProtocol? {
        all.first { $0.code == code }
    }

    /// Longest DNS name accepted (RFC 1035's limit on a full name).
    static let maxDNSLength = 255

    /// Converts a value from its string form to its binary form (without a length prefix).
    func valueBytes(from text: String) throws(MultiformatsError) -> [UInt8] {
        switch code {
        case 4: return try MultiaddrProtocol.parseIP(text, family: AF_INET, size: 4, name: name)
        case 41: return try MultiaddrProtocol.parseIP(text, family: AF_INET6, size: 16, name: name)
        case 6, 273:
            let digits = Array(text.utf8)
            guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let port = Int(text), port <= 65535
            else { throw .invalid(what: "/\(name)", reason: "'\(text)' is not a port number (0-65535)") }
            return [UInt8(port >> 8), UInt8(port & 0xff)]
        case 53, 54, 55:
            let bytes = Array(text.utf8)
            try checkDNS(bytes)
            return bytes
        case 421:
            return try PeerID(text).bytes
        case 406:
            let (_, bytes) = try Multibase.decode(text)
            try MultiaddrProtocol.checkThreadID(bytes)
            return bytes
        default:
            throw .unknownName(what: "multiaddr protocol", name: name)
        }
    }

    /// Checks a binary value and gives its string form.
    func valueString(from bytes: [UInt8]) throws(MultiformatsError) -> String {
        switch code {
        case 4: return try MultiaddrProtocol.formatIP(bytes, family: AF_INET, name: name)
        case 41: return try MultiaddrProtocol.formatIP(bytes, family: AF_INET6, name: name)
        case 6, 273:
            guard bytes.count == 2 else {
                throw .invalidLength(what: "/\(name)", length: bytes.count, expected: "2 bytes")
            }
            return String(Int(bytes[0]) << 8 | Int(bytes[1]))
        case 53, 54, 55:
            try checkDNS(bytes)
            return String(decoding: bytes, as: UTF8.self)
        case 421:
            return try PeerID(bytes: bytes).description
        case 406:
            try MultiaddrProtocol.checkThreadID(bytes)
            return Multibase.encode(bytes, as: .base32)
        default:
            throw .unknownCode(what: "multiaddr protocol", code: code)
        }
    }

    private func checkDNS(_ bytes: [UInt8]) throws(MultiformatsError) {
        guard !bytes.isEmpty, bytes.count <= MultiaddrProtocol.maxDNSLength else {
            throw .invalidLength(
                what: "/\(name)",
                length: bytes.count,
                expected: "1 to \(MultiaddrProtocol.maxDNSLength) bytes"
            )
        }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw .invalid(what: "/\(name)", reason: "name is not valid UTF-8")
        }
        guard !bytes.contains(0x2f) else { throw .invalid(what: "/\(name)", reason: "name contains '/'") }
    }

    /// A thread ID: `varint(version 1) varint(variant: 0x55 raw | 0x70 access-controlled)` then
    /// 32 random bytes (the go-threads format).
    static func checkThreadID(_ bytes: [UInt8]) throws(MultiformatsError) {
        var reader = ByteReader(bytes, what: "thread ID")
        let version = try reader.varint()
        guard version == 1 else { throw .invalid(what: "thread ID", reason: "unsupported version \(version)") }
        let variant = try reader.varint()
        guard variant == 0x55 || variant == 0x70 else {
            throw .invalid(what: "thread ID", reason: "unknown variant 0x\(String(variant, radix: 16)) (0x55 or 0x70)")
        }
        guard reader.remaining == 32 else {
            throw .invalidLength(what: "thread ID random part", length: reader.remaining, expected: "32 bytes")
        }
    }

    private static func parseIP(_ text: String, family: Int32, size: Int, name: String) throws(MultiformatsError)
        -> [UInt8]
    {
        var out = [UInt8](repeating: 0, count: size)
        // inet_pton is strict: no leading zeros in IPv4 parts, no IPv4 address under /ip6 without ::ffff: etc.
        let ok = text.utf8.count < 64 && out.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) } == 1
        guard ok else {
            throw .invalid(
                what: "/\(name)",
                reason: "'\(text)' is not an \(family == AF_INET ? "IPv4" : "IPv6") address"
            )
        }
        return out
    }

    private static func formatIP(_ bytes: [UInt8], family: Int32, name: String) throws(MultiformatsError) -> String {
        let size = family == AF_INET ? 4 : 16
        guard bytes.count == size else {
            throw .invalidLength(what: "/\(name)", length: bytes.count, expected: "\(size) bytes")
        }
        var buffer = [CChar](repeating: 0, count: 64)
        let ok = bytes.withUnsafeBytes { raw in
            buffer.withUnsafeMutableBufferPointer { inet_ntop(family, raw.baseAddress, $0.baseAddress, 64) != nil }
        }
        guard ok else { throw .invalid(what: "/\(name)", reason: "cannot format address") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
