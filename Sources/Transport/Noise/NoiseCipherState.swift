import NIOCore
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

    /// Encrypts into the end of `out` with no associated data (transport messages): no arrays.
    mutating func encrypt(_ plaintext: UnsafeRawBufferPointer, appendingTo out: inout ByteBuffer) throws(TransportError)
    {
        guard let key else { throw .outOfOrder("no transport key") }
        guard nonce < NoiseCipherState.maxNonce else { throw .nonceExhausted }
        // 4 zero bytes, then the counter little-endian, as three padding-free 32-bit words.
        var nonceBytes: (UInt32, UInt32, UInt32) = (
            0, UInt32(truncatingIfNeeded: nonce).littleEndian, UInt32(truncatingIfNeeded: nonce >> 32).littleEndian
        )
        let count = plaintext.count + AEADAlgorithm.tagLength
        _ = withUnsafeBytes(of: &nonceBytes) { n in
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { o in
                // Sizes are checked above; sealing cannot fail.
                try! AEADAlgorithm.chacha20poly1305.seal(
                    plaintext,
                    key: key,
                    nonce: UnsafeRawBufferPointer(rebasing: n[0..<12]),
                    associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                    into: o
                )
            }
        }
        nonce += 1
    }

    /// Decrypts into the end of `out` with no associated data (transport messages).
    mutating func decrypt(_ ciphertext: UnsafeRawBufferPointer, appendingTo out: inout ByteBuffer)
        throws(TransportError)
    {
        guard let key else { throw .outOfOrder("no transport key") }
        guard nonce < NoiseCipherState.maxNonce else { throw .nonceExhausted }
        guard ciphertext.count >= AEADAlgorithm.tagLength else { throw .decryptionFailed(stage: "a transport message") }
        // 4 zero bytes, then the counter little-endian, as three padding-free 32-bit words.
        var nonceBytes: (UInt32, UInt32, UInt32) = (
            0, UInt32(truncatingIfNeeded: nonce).littleEndian, UInt32(truncatingIfNeeded: nonce >> 32).littleEndian
        )
        var ok = false
        withUnsafeBytes(of: &nonceBytes) { n in
            _ = out.writeWithUnsafeMutableBytes(
                minimumWritableBytes: max(ciphertext.count - AEADAlgorithm.tagLength, 1)
            ) { o in
                let written = try? AEADAlgorithm.chacha20poly1305.open(
                    ciphertext,
                    key: key,
                    nonce: UnsafeRawBufferPointer(rebasing: n[0..<12]),
                    associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                    into: o
                )
                ok = written != nil
                return written ?? 0
            }
        }
        guard ok else { throw .decryptionFailed(stage: "a transport message") }
        nonce += 1
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
