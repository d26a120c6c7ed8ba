import DagCBOR
import Multiformats
import Sodium

/// A signed DHT datagram: version, transaction id, sender, timestamp, optional part numbering and
/// the message, signed by the sender's identity key over everything else.
struct Envelope: Sendable, Equatable {
    static let version: UInt64 = 1
    static let domain = Array("threads-dht/1:".utf8)
    static let transactionLength = 8

    var transaction: [UInt8]
    var sender: PeerID
    /// Milliseconds since the Unix epoch at the sender.
    var timestamp: UInt64
    /// Index and count of this part when an answer is split over several datagrams.
    var part: Int = 0
    var parts: Int = 1
    var message: DHTMessage

    private var content: [String: IPLD] {
        var fields: [String: IPLD] = [
            "v": .uint(Self.version), "t": .bytes(transaction), "s": .bytes(sender.bytes), "ts": .uint(timestamp),
            "m": message.ipld,
        ]
        if parts > 1 {
            fields["pi"] = .uint(UInt64(part))
            fields["pn"] = .uint(UInt64(parts))
        }
        return fields
    }

    /// The datagram bytes, signed with `identity` (whose peer ID must be `sender`).
    func sealed(with identity: Ed25519.PrivateKey) -> [UInt8] {
        var fields = content
        fields["sig"] = .bytes(identity.signature(for: Self.domain + IPLD.map(fields).encoded))
        return IPLD.map(fields).encoded
    }

    /// Parses a datagram and verifies its signature against the sender's key. An answer whose
    /// transaction id `awaited` refuses is dropped (`unexpected`) before any signature is checked:
    /// anyone can send answers, and one can hold 32 provider records, each signed.
    static func open(
        _ bytes: [UInt8],
        limit: Int,
        awaited: ([UInt8]) -> Bool = { _ in true }
    ) throws(DHTError) -> Envelope {
        guard bytes.count <= limit else { throw .oversized(size: bytes.count, limit: limit) }
        let root: IPLD
        do { root = try DagCBOR.decode(bytes) } catch { throw .malformed("not DAG-CBOR: \(error)") }
        guard var fields = root.mapValue else { throw .malformed("a datagram is a map") }
        if let transaction = fields["t"]?.bytesValue, let operation = fields["m"]?.mapValue?["op"]?.stringValue,
            !DHTMessage.requestOperations.contains(operation), !awaited(transaction)
        {
            throw .unexpected("no request \(transaction) waits for this answer")
        }
        try fields.allowOnly(["v", "t", "s", "ts", "m", "pi", "pn", "sig"], in: "datagram")
        let version = try fields.uint("v")
        guard version == Self.version else { throw .malformed("unknown version \(version)") }
        let signature = try fields.bytes("sig", count: Ed25519.signatureLength)
        let sender = try fields.peer("s")
        fields["sig"] = nil
        guard let raw = sender.ed25519PublicKey, let key = try? Ed25519.PublicKey(rawRepresentation: raw) else {
            throw .malformed("sender \(sender) has no inline Ed25519 key")
        }
        // DAG-CBOR decoding is strict, so re-encoding gives back exactly the signed bytes.
        guard key.isValidSignature(signature, for: Self.domain + IPLD.map(fields).encoded) else {
            throw .badSignature(what: "datagram from \(sender)")
        }
        var envelope = Envelope(
            transaction: try fields.bytes("t", count: transactionLength),
            sender: sender,
            timestamp: try fields.uint("ts"),
            message: try DHTMessage(ipld: fields["m"] ?? .null)
        )
        if fields["pn"] != nil || fields["pi"] != nil {
            let count = try fields.uint("pn")
            let index = try fields.uint("pi")
            guard count >= 2, count <= 16, index < count else { throw .malformed("part \(index) of \(count)") }
            envelope.parts = Int(count)
            envelope.part = Int(index)
        }
        return envelope
    }
}
