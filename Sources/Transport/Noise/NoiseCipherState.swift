import Sodium

/// A Noise CipherState for ChaChaPoly: a key and a 64-bit message counter used as the nonce
/// (4 zero bytes then the counter, little-endian), per the Noise specification, section 5.1.
struct NoiseCipherState: Sendable {
    private var key: SymmetricKey?
    private(set) var nonce: UInt64 = 0

    /// Messages allowed per direction. Noise reserves 2^64-1; stopping at 2^62 closes a connection
    /// well before the counter could wrap, whatever else happens.
    static let maxNonce: UInt64 = 1 << 62

    init(key: SymmetricKey? = nil) {
        self.key = key
    }

    var hasKey: Bool { key != nil }

    private static func nonceBytes(_ n: UInt64) -> [UInt8] {
        [0, 0, 0, 0] + (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
    }

    mutating func encrypt(associatedData ad: [UInt8], plaintext: [UInt8]) throws(TransportError) -> [UInt8] {
        guard let key else { return plaintext }
        guard nonce < NoiseCipherState.maxNonce else { throw .nonceExhausted }
        // Lengths are fixed here, so sealing cannot fail.
        let out = try! AEADAlgorithm.chacha20poly1305.seal(
            plaintext,
            key: key,
            nonce: Self.nonceBytes(nonce),
            associatedData: ad
        )
        nonce += 1
        return out
    }

    mutating func decrypt(associatedData ad: [UInt8], ciphertext: [UInt8], stage: String) throws(TransportError)
        -> [UInt8]
    {
        guard let key else { return ciphertext }
        guard nonce < NoiseCipherState.maxNonce else { throw .nonceExhausted }
        do {
            let out = try AEADAlgorithm.chacha20poly1305.open(
                ciphertext,
                key: key,
                nonce: Self.nonceBytes(nonce),
                associatedData: ad
            )
            // The nonce advances only on success, as the specification requires.
            nonce += 1
            return out
        } catch {
            throw .decryptionFailed(stage: stage)
        }
    }
}
