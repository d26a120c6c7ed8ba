internal import CSodium
import Foundation

/// Anonymous public-key encryption (libsodium's sealed boxes: an ephemeral X25519 key, then
/// XSalsa20-Poly1305): anyone can seal to a public key, only its private key opens.
public enum SealedBox {
    /// Bytes a sealed box adds to its message.
    public static let overhead = Int(crypto_box_sealbytes())

    public static func seal(_ message: some ContiguousBytes, to recipient: X25519.PublicKey) -> [UInt8] {
        Sodium.ensureInitialized()
        return message.withUnsafeBytes { m in
            var out = [UInt8](repeating: 0, count: m.count + overhead)
            recipient.rawRepresentation.withUnsafeBufferPointer { pk in
                _ = out.withUnsafeMutableBufferPointer {
                    crypto_box_seal(
                        $0.baseAddress!,
                        m.bindMemory(to: UInt8.self).baseAddress,
                        UInt64(m.count),
                        pk.baseAddress!
                    )
                }
            }
            return out
        }
    }

    /// Opens a box sealed to `key`'s public key.
    public static func open(_ box: [UInt8], with key: X25519.PrivateKey) throws(SodiumError) -> [UInt8] {
        guard box.count >= overhead else {
            throw .invalidLength(what: "sealed box", length: box.count, expected: overhead)
        }
        var out = [UInt8](repeating: 0, count: box.count - overhead)
        let failed = key.secret.withUnsafeBytes { sk in
            key.publicKey.rawRepresentation.withUnsafeBufferPointer { pk in
                out.withUnsafeMutableBufferPointer { o in
                    crypto_box_seal_open(
                        o.baseAddress!,
                        box,
                        UInt64(box.count),
                        pk.baseAddress!,
                        sk.bindMemory(to: UInt8.self).baseAddress!
                    ) != 0
                }
            }
        }
        if failed { throw .authenticationFailed }
        return out
    }
}
