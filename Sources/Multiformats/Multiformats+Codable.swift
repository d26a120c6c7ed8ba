/// CIDs, peer IDs and multiaddrs encode as their canonical strings with any `Encoder` (JSON config
/// files, API bodies). The IPLD encoder in DagCBOR special-cases `CID` and writes a link instead.
extension CID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try CID(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension PeerID: Codable {
    public init(from decoder: any Decoder) throws {
        self = try PeerID(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Multiaddr: Codable {
    public init(from decoder: any Decoder) throws {
        self = try Multiaddr(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
