import DagCBOR
import Multiformats
import Sodium

/// A peer's signed statement that it can serve some content: which key, which peer, where to dial
/// it, and when it said so. DHT servers hand these out as they are, so whoever fetches them can
/// check the provider's own signature rather than trust the server.
public struct ProviderRecord: Hashable, Sendable {
    /// Signatures are made over this prefix and the DAG-CBOR of the record without `sig`.
    static let domain = Array("threads-dht-provider/1:".utf8)
    public static let maxAddresses = 8

    public let key: DHTKey
    public let provider: PeerID
    /// Where to reach the provider for the content (typically its TCP multiaddrs).
    public let addresses: [Multiaddr]
    /// Milliseconds since the Unix epoch when the provider signed the record.
    public let issued: UInt64
    public let signature: [UInt8]

    /// Makes and signs a record for `key` as `identity`.
    public init(key: DHTKey, addresses: [Multiaddr], issued: UInt64, identity: Ed25519.PrivateKey) {
        self.key = key
        provider = identity.publicKey.peerID
        self.addresses = Array(addresses.prefix(Self.maxAddresses))
        self.issued = issued
        signature = identity.signature(
            for: Self.domain + Self.content(key, provider, self.addresses, issued).encoded
        )
    }

    private static func content(_ key: DHTKey, _ provider: PeerID, _ addresses: [Multiaddr], _ issued: UInt64) -> IPLD {
        .map([
            "k": .bytes(key.bytes), "p": .bytes(provider.bytes), "a": .list(addresses.map { .bytes($0.bytes) }),
            "t": .uint(issued),
        ])
    }

    var ipld: IPLD {
        .map([
            "k": .bytes(key.bytes), "p": .bytes(provider.bytes), "a": .list(addresses.map { .bytes($0.bytes) }),
            "t": .uint(issued), "sig": .bytes(signature),
        ])
    }

    /// Parses a record and checks the provider's signature.
    init(ipld: IPLD) throws(DHTError) {
        guard let fields = ipld.mapValue else { throw .malformed("a provider record is a map") }
        try fields.allowOnly(["k", "p", "a", "t", "sig"], in: "provider record")
        key = try DHTKey(bytes: try fields.bytes("k"))
        provider = try fields.peer("p")
        addresses = try fields.multiaddrs("a", max: Self.maxAddresses)
        issued = try fields.uint("t")
        signature = try fields.bytes("sig", count: Ed25519.signatureLength)
        guard let raw = provider.ed25519PublicKey, let publicKey = try? Ed25519.PublicKey(rawRepresentation: raw),
            publicKey.isValidSignature(
                signature,
                for: Self.domain + Self.content(key, provider, addresses, issued).encoded
            )
        else { throw .badSignature(what: "provider record of \(provider)") }
    }
}
