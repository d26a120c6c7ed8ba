/// A multiaddr: a self-describing network address such as `/ip4/192.0.2.7/tcp/4006/p2p/12D3KooW…`.
///
/// Parsed once into components with validated binary values; the string form printed is canonical
/// (`/ipfs/` becomes `/p2p/`, IPv6 is compressed, peer IDs are base58btc, ports lose leading zeros).
public struct Multiaddr: Hashable, Sendable, CustomStringConvertible {
    /// One `/protocol/value` pair.
    public struct Component: Hashable, Sendable {
        public let proto: MultiaddrProtocol
        /// The value in binary form (no length prefix); empty for protocols without a value.
        public let value: [UInt8]
        /// The value in canonical string form; nil for protocols without a value.
        public let valueString: String?

        public var protocolCode: UInt64 { proto.code }
        public var protocolName: String { proto.name }

        /// Builds a component from a binary value, validating it.
        public init(proto: MultiaddrProtocol, value: [UInt8]) throws(MultiformatsError) {
            self.proto = proto
            if proto.size == .none {
                guard value.isEmpty else { throw .invalid(what: "/\(proto.name)", reason: "takes no value") }
                self.value = []
                valueString = nil
            } else {
                valueString = try proto.valueString(from: value)
                self.value = value
            }
        }

        /// Builds a component from a string value.
        public init(proto: MultiaddrProtocol, string: String) throws(MultiformatsError) {
            try self.init(proto: proto, value: proto.valueBytes(from: string))
        }

        func append(to out: inout [UInt8]) {
            Varint.encode(proto.code, into: &out)
            if proto.size == .lengthPrefixed { Varint.encode(UInt64(value.count), into: &out) }
            out.append(contentsOf: value)
        }
    }

    /// Longest binary multiaddr accepted: addresses are small, and a peer must not make a node
    /// parse megabytes of them.
    public static let maxLength = 1024

    public let components: [Component]
    /// The canonical binary form.
    public let bytes: [UInt8]

    /// Builds a multiaddr from components (at least one).
    public init(components: [Component]) throws(MultiformatsError) {
        guard !components.isEmpty else { throw .empty(what: "multiaddr") }
        var out = [UInt8]()
        for component in components { component.append(to: &out) }
        guard out.count <= Multiaddr.maxLength else {
            throw .invalidLength(what: "multiaddr", length: out.count, expected: "at most \(Multiaddr.maxLength) bytes")
        }
        self.components = components
        bytes = out
    }

    /// Parses the string form. A trailing `/` is accepted (as go-multiaddr does); empty segments are not.
    public init(_ string: String) throws(MultiformatsError) {
        guard !string.isEmpty else { throw .empty(what: "multiaddr") }
        guard string.hasPrefix("/") else { throw .invalid(what: "multiaddr", reason: "must start with '/'") }
        var parts = string.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if parts.count > 1 && parts.last == "" { parts.removeLast() }
        var components: [Component] = []
        var i = 0
        while i < parts.count {
            let name = parts[i]
            guard !name.isEmpty else {
                throw .invalid(what: "multiaddr", reason: "empty protocol name in segment \(i + 1)")
            }
            guard let proto = MultiaddrProtocol.named(name) else {
                throw .unknownName(what: "multiaddr protocol", name: name)
            }
            if proto.size == .none {
                components.append(try Component(proto: proto, value: []))
                i += 1
                continue
            }
            guard i + 1 < parts.count, !parts[i + 1].isEmpty else {
                throw .invalid(what: "multiaddr", reason: "/\(name) needs a value")
            }
            components.append(try Component(proto: proto, string: parts[i + 1]))
            i += 2
        }
        try self.init(components: components)
    }

    /// Parses the binary form; every value is validated.
    public init(bytes: some Collection<UInt8>) throws(MultiformatsError) {
        let input = Array(bytes)
        guard !input.isEmpty else { throw .empty(what: "multiaddr") }
        guard input.count <= Multiaddr.maxLength else {
            throw .invalidLength(
                what: "multiaddr",
                length: input.count,
                expected: "at most \(Multiaddr.maxLength) bytes"
            )
        }
        var reader = ByteReader(input, what: "multiaddr")
        var components: [Component] = []
        while !reader.isAtEnd {
            let start = reader.offset
            let code = try reader.varint()
            guard let proto = MultiaddrProtocol.withCode(code) else {
                throw .invalid(
                    what: "multiaddr",
                    reason: "unknown protocol code 0x\(String(code, radix: 16)) at byte \(start)"
                )
            }
            let value: [UInt8]
            switch proto.size {
            case .none: value = []
            case .fixed(let n): value = try reader.take(n)
            case .lengthPrefixed:
                let length = try reader.varint()
                guard length <= UInt64(reader.remaining) else {
                    throw .truncated(what: "multiaddr /\(proto.name)", offset: input.count)
                }
                value = try reader.take(Int(length))
            }
            components.append(try Component(proto: proto, value: value))
        }
        try self.init(components: components)
    }

    public var description: String {
        var out = ""
        for component in components {
            out += "/" + component.proto.name
            if let value = component.valueString { out += "/" + value }
        }
        return out
    }

    /// This address followed by `other`'s components.
    ///
    /// - Throws: when the result would exceed `maxLength`.
    public func encapsulate(_ other: Multiaddr) throws(MultiformatsError) -> Multiaddr {
        try Multiaddr(components: components + other.components)
    }

    /// The peer ID of the last `/p2p/` component, if any.
    public var peerID: PeerID? {
        guard let last = components.last(where: { $0.proto == .p2p }) else { return nil }
        return try? PeerID(bytes: last.value)
    }

    /// The address without its trailing `/p2p/…` component (what a dialer connects to).
    public var withoutPeerID: Multiaddr? {
        guard let index = components.lastIndex(where: { $0.proto == .p2p }), index > 0 else { return nil }
        return try? Multiaddr(components: Array(components[..<index]))
    }

    /// The value of the first component of a protocol, as a string.
    public func value(for proto: MultiaddrProtocol) -> String? {
        components.first { $0.proto == proto }?.valueString
    }

    public static func == (lhs: Multiaddr, rhs: Multiaddr) -> Bool {
        lhs.bytes == rhs.bytes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes)
    }
}
