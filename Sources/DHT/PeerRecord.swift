import DagCBOR
import Multiformats
import Sodium

/// A peer's signed list of its current multiaddrs. The sequence number only grows (the signer
/// uses its clock in milliseconds), so of two records the one with the larger number is newer.
public struct PeerRecord: Hashable, Sendable {
    static let domain = Array("threads-dht-peer/1:".utf8)
    public static let maxAddresses = 16

    public let peer: PeerID
    public let sequence: UInt64
    public let addresses: [Multiaddr]
    public let signature: [UInt8]

    /// Makes and signs a record for `identity`.
    public init(sequence: UInt64, addresses: [Multiaddr], identity: Ed25519.PrivateKey) {
        peer = identity.publicKey.peerID
        self.sequence = sequence
        self.addresses = Array(addresses.prefix(Self.maxAddresses))
        signature = identity.signature(for: Self.domain + Self.content(peer, sequence, self.addresses).encoded)
    }

    private static func content(_ peer: PeerID, _ sequence: UInt64, _ addresses: [Multiaddr]) -> IPLD {
        .map(["p": .bytes(peer.bytes), "s": .uint(sequence), "a": .list(addresses.map { .bytes($0.bytes) })])
    }

    var ipld: IPLD {
        .map([
            "p": .bytes(peer.bytes), "s": .uint(sequence), "a": .list(addresses.map { .bytes($0.bytes) }),
            "sig": .bytes(signature),
        ])
    }

    /// Parses a record and checks the peer's signature.
    init(ipld: IPLD) throws(DHTError) {
        guard let fields = ipld.mapValue else { throw .malformed("a peer record is a map") }
        try fields.allowOnly(["p", "s", "a", "sig"], in: "peer record")
        peer = try fields.peer("p")
        sequence = try fields.uint("s")
        addresses = try fields.multiaddrs("a", max: Self.maxAddresses)
        signature = try fields.bytes("sig", count: Ed25519.signatureLength)
        guard let raw = peer.ed25519PublicKey, let publicKey = try? Ed25519.PublicKey(rawRepresentation: raw),
            publicKey.isValidSignature(signature, for: Self.domain + Self.content(peer, sequence, addresses).encoded)
        else { throw .badSignature(what: "peer record of \(peer)") }
    }
}
