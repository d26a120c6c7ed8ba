import Crypto
import Sodium

/// The Noise SymmetricState (specification section 5.2) with SHA-256 and HKDF over HMAC-SHA256.
struct NoiseSymmetricState: Sendable {
    private(set) var chainingKey: [UInt8]
    private(set) var handshakeHash: [UInt8]
    private(set) var cipher = NoiseCipherState()

    static let hashLength = 32

    init(protocolName: String) {
        let name = Array(protocolName.utf8)
        if name.count <= Self.hashLength {
            handshakeHash = name + [UInt8](repeating: 0, count: Self.hashLength - name.count)
        } else {
            handshakeHash = Array(SHA256.hash(data: name))
        }
        chainingKey = handshakeHash
    }

    mutating func mixHash(_ data: [UInt8]) {
        var hasher = SHA256()
        hasher.update(data: handshakeHash)
        hasher.update(data: data)
        handshakeHash = Array(hasher.finalize())
    }

    mutating func mixKey(_ inputKeyMaterial: SecureBytes) {
        let (ck, tempKey) = inputKeyMaterial.withUnsafeBytes {
            Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: Array($0))
        }
        chainingKey = ck
        // HASHLEN is 32, the ChaChaPoly key size, so no truncation is needed.
        cipher = NoiseCipherState(key: try! SymmetricKey(bytes: tempKey))
    }

    mutating func encryptAndHash(_ plaintext: [UInt8]) throws(TransportError) -> [UInt8] {
        let ciphertext = try cipher.encrypt(associatedData: handshakeHash, plaintext: plaintext)
        mixHash(ciphertext)
        return ciphertext
    }

    mutating func decryptAndHash(_ ciphertext: [UInt8], stage: String) throws(TransportError) -> [UInt8] {
        let plaintext = try cipher.decrypt(associatedData: handshakeHash, ciphertext: ciphertext, stage: stage)
        mixHash(ciphertext)
        return plaintext
    }

    /// The two transport cipher states: initiator-to-responder first.
    func split() -> (NoiseCipherState, NoiseCipherState) {
        let (k1, k2) = Self.hkdf(chainingKey: chainingKey, inputKeyMaterial: [])
        return (
            NoiseCipherState(key: try! SymmetricKey(bytes: k1)), NoiseCipherState(key: try! SymmetricKey(bytes: k2))
        )
    }

    /// HKDF as Noise defines it (section 4.3), producing two outputs.
    static func hkdf(chainingKey: [UInt8], inputKeyMaterial: [UInt8]) -> ([UInt8], [UInt8]) {
        let tempKey = Array(
            HMAC<SHA256>.authenticationCode(for: inputKeyMaterial, using: Crypto.SymmetricKey(data: chainingKey))
        )
        let key = Crypto.SymmetricKey(data: tempKey)
        let out1 = Array(HMAC<SHA256>.authenticationCode(for: [0x01], using: key))
        let out2 = Array(HMAC<SHA256>.authenticationCode(for: out1 + [0x02], using: key))
        return (out1, out2)
    }
}
