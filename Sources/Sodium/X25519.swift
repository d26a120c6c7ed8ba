internal import CSodium
import Foundation

/// X25519 key agreement (libsodium `crypto_scalarmult`), for Noise handshakes.
public enum X25519 {
    public struct PublicKey: Hashable, Sendable {
        public let rawRepresentation: [UInt8]

        public init(rawRepresentation bytes: [UInt8]) throws(SodiumError) {
            guard bytes.count == 32 else {
                throw .invalidLength(what: "X25519 public key", length: bytes.count, expected: 32)
            }
            rawRepresentation = bytes
        }
    }

    public struct PrivateKey: Sendable, CustomStringConvertible {
        let secret: SecureBytes
        public let publicKey: PublicKey

        /// A new random key.
        public init() {
            self.init(secret: SecureBytes.random(count: 32))
        }

        /// A key from its 32 scalar bytes (clamped by libsodium when used).
        public init(rawRepresentation bytes: some ContiguousBytes) throws(SodiumError) {
            let count = bytes.withUnsafeBytes { $0.count }
            guard count == 32 else { throw .invalidLength(what: "X25519 private key", length: count, expected: 32) }
            self.init(secret: SecureBytes(bytes))
        }

        init(secret: SecureBytes) {
            Sodium.ensureInitialized()
            self.secret = secret
            var pk = [UInt8](repeating: 0, count: 32)
            secret.withUnsafeBytes { sk in
                _ = pk.withUnsafeMutableBufferPointer {
                    crypto_scalarmult_base($0.baseAddress!, sk.bindMemory(to: UInt8.self).baseAddress!)
                }
            }
            publicKey = try! PublicKey(rawRepresentation: pk)
        }

        /// The shared secret with a peer's public key.
        ///
        /// - Throws: `weakSharedSecret` when the result is all zeros (a low-order peer key).
        public func sharedSecret(with peer: PublicKey) throws(SodiumError) -> SecureBytes {
            var failed = false
            let shared = SecureBytes(count: 32) { out in
                secret.withUnsafeBytes { sk in
                    peer.rawRepresentation.withUnsafeBufferPointer { pk in
                        failed =
                            crypto_scalarmult(
                                out.bindMemory(to: UInt8.self).baseAddress!,
                                sk.bindMemory(to: UInt8.self).baseAddress!,
                                pk.baseAddress!
                            ) != 0
                    }
                }
            }
            if failed { throw .weakSharedSecret }
            return shared
        }

        /// The private scalar, in wiped storage.
        public var rawRepresentation: SecureBytes { secret }

        public var description: String { "X25519.PrivateKey(<redacted>)" }
    }
}
