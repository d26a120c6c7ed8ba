/// A libp2p peer ID: the multihash of the peer's public key in libp2p's protobuf form.
///
/// Keys whose protobuf form is at most 42 bytes (Ed25519: 36) are inlined with the identity
/// multihash; larger keys are hashed with sha2-256. Printed as bare base58btc (`12D3KooW…`);
/// also read from a CIDv1 with the libp2p-key codec in any multibase (`k51…`, `bafz…`).
public struct PeerID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The multihash that is the peer ID.
    public let multihash: Multihash

    /// The binary form (the multihash bytes).
    public var bytes: [UInt8] { multihash.bytes }

    /// The largest protobuf key inlined with the identity multihash.
    public static let maxInlineKeyLength = 42

    /// Wraps a multihash, checking it is a form peer IDs take (identity, or a full sha2-256).
    public init(multihash: Multihash) throws(MultiformatsError) {
        switch multihash.code {
        case Multicodec.identity:
            guard !(multihash.digestLength == 0), multihash.digestLength <= PeerID.maxInlineKeyLength else {
                throw .invalid(
                    what: "peer ID",
                    reason:
                        "identity multihash of \(multihash.digestLength) bytes (1 to \(PeerID.maxInlineKeyLength) allowed)"
                )
            }
        case Multicodec.sha2_256:
            guard multihash.digestLength == 32 else {
                throw .invalid(
                    what: "peer ID",
                    reason: "sha2-256 multihash with a \(multihash.digestLength)-byte digest (32 required)"
                )
            }
        default:
            throw .invalid(
                what: "peer ID",
                reason: "multihash must be identity or sha2-256, not 0x\(String(multihash.code, radix: 16))"
            )
        }
        self.multihash = multihash
    }

    /// Parses the binary form.
    public init(bytes: some Collection<UInt8>) throws(MultiformatsError) {
        try self.init(multihash: Multihash(bytes: bytes))
    }

    /// The peer ID of a key given in libp2p protobuf form (`PublicKey{Type, Data}`).
    public init(publicKeyProtobuf key: [UInt8]) throws(MultiformatsError) {
        guard !key.isEmpty else { throw .empty(what: "public key") }
        let function: HashFunction = key.count <= PeerID.maxInlineKeyLength ? .identity : .sha2_256
        try self.init(multihash: Multihash.hash(key, using: function))
    }

    /// The peer ID of a raw 32-byte Ed25519 public key.
    public init(ed25519PublicKey key: [UInt8]) throws(MultiformatsError) {
        guard key.count == 32 else {
            throw .invalidLength(what: "Ed25519 public key", length: key.count, expected: "32 bytes")
        }
        try self.init(publicKeyProtobuf: PeerID.ed25519ProtobufPrefix + key)
    }

    /// `PublicKey{Type: Ed25519 (1), Data: 32 bytes}` up to the key bytes.
    public static let ed25519ProtobufPrefix: [UInt8] = [0x08, 0x01, 0x12, 0x20]

    /// Parses a peer ID string: bare base58btc (`1…`, `Qm…`) or a libp2p-key CIDv1 in any multibase.
    public init(_ string: String) throws(MultiformatsError) {
        guard let first = string.first else { throw .empty(what: "peer ID") }
        if first == "1" || string.hasPrefix("Qm") {
            try self.init(bytes: Multibase.base58btc.decodeBare(string))
            return
        }
        let (_, bytes) = try Multibase.decode(string)
        let cid = try CID(bytes: bytes)
        guard cid.version == 1, cid.codec == Multicodec.libp2pKey else {
            let codec = Multicodec.name(for: cid.codec) ?? "0x" + String(cid.codec, radix: 16)
            throw .invalid(what: "peer ID", reason: "a CID names a peer only with the libp2p-key codec, not \(codec)")
        }
        try self.init(multihash: cid.multihash)
    }

    /// Bare base58btc of the multihash.
    public var description: String {
        Multibase.base58btc.encodeBare(multihash.bytes)
    }

    /// The peer ID as a CIDv1 with the libp2p-key codec (base36 by default, as libp2p prints it).
    public func cidString(base: Multibase = .base36) -> String {
        Multibase.encode(CID.v1(codec: Multicodec.libp2pKey, multihash: multihash).bytes, as: base)
    }

    /// The Ed25519 public key inlined in this peer ID, if it is one.
    public var ed25519PublicKey: [UInt8]? {
        let digest = multihash.digest
        guard multihash.code == Multicodec.identity, digest.count == 36,
            digest.starts(with: PeerID.ed25519ProtobufPrefix)
        else { return nil }
        return Array(digest[4...])
    }

    public static func < (lhs: PeerID, rhs: PeerID) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}
