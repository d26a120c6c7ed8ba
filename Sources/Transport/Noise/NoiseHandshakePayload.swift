import Multiformats
import Sodium

/// libp2p-noise's handshake payload: `NoiseHandshakePayload { bytes identity_key = 1; bytes
/// identity_sig = 2; NoiseExtensions extensions = 4; }`. The identity key is the libp2p protobuf
/// public key; the signature is by that key over `"noise-libp2p-static-key:" ‖ static X25519 key`,
/// binding the Noise static key to the peer's identity.
struct NoiseHandshakePayload: Sendable {
    static let signaturePrefix = Array("noise-libp2p-static-key:".utf8)

    let identityKey: [UInt8]
    let identitySignature: [UInt8]

    /// The payload for our side: our identity key and its signature over our static key.
    init(identity: Ed25519.PrivateKey, staticKey: X25519.PublicKey) {
        identityKey = identity.publicKey.protobufBytes
        identitySignature = identity.signature(for: Self.signaturePrefix + staticKey.rawRepresentation)
    }

    var encoded: [UInt8] {
        var out: [UInt8] = [0x0a]
        Varint.encode(UInt64(identityKey.count), into: &out)
        out += identityKey
        out.append(0x12)
        Varint.encode(UInt64(identitySignature.count), into: &out)
        out += identitySignature
        return out
    }

    /// Parses a payload. Unknown fields (such as extensions, field 4) are skipped, as protobuf
    /// readers must, so peers that send extensions still interoperate.
    init(decoding bytes: [UInt8]) throws(TransportError) {
        var key: [UInt8]?
        var signature: [UInt8]?
        var offset = 0
        func varint() throws(TransportError) -> UInt64 {
            do {
                let (value, length) = try Varint.decode(bytes[offset...])
                offset += length
                return value
            } catch {
                throw .invalidIdentity(reason: "malformed payload varint at byte \(offset)")
            }
        }
        while offset < bytes.count {
            let tag = try varint()
            switch tag & 7 {
            case 0:
                _ = try varint()
            case 2:
                let length = try varint()
                guard length <= UInt64(bytes.count - offset) else {
                    throw .invalidIdentity(reason: "payload field runs past the end")
                }
                let value = Array(bytes[offset..<offset + Int(length)])
                offset += Int(length)
                if tag >> 3 == 1 { key = value }
                if tag >> 3 == 2 { signature = value }
            default:
                throw .invalidIdentity(reason: "unsupported payload wire type \(tag & 7)")
            }
        }
        guard let key, let signature else {
            throw .invalidIdentity(reason: "payload lacks identity_key or identity_sig")
        }
        identityKey = key
        identitySignature = signature
    }

    /// Checks the signature over the remote's static key and returns the proven identity.
    func verify(remoteStatic: [UInt8]) throws(TransportError) -> Ed25519.PublicKey {
        let publicKey: Ed25519.PublicKey
        do {
            publicKey = try Ed25519.PublicKey(protobufBytes: identityKey)
        } catch {
            throw .invalidIdentity(reason: "\(error)")
        }
        guard publicKey.isValidSignature(identitySignature, for: Self.signaturePrefix + remoteStatic) else {
            throw .invalidIdentity(reason: "the signature over the Noise static key does not verify")
        }
        return publicKey
    }
}
