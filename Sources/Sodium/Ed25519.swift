internal import CSodium
import Crypto
import Foundation
import Multiformats

/// Ed25519 signatures: node identities and log keys.
///
/// Keys and verification are libsodium's (`crypto_sign`). Signing goes through swift-crypto's
/// BoringSSL Ed25519, which signs about 1.25x as fast as libsodium on this project's machines
/// (`threads bench threads` prints both), while libsodium verifies about 1.4x as fast as BoringSSL.
/// Ed25519 signatures are deterministic (RFC 8032), so both produce the same bytes.
public enum Ed25519 {
    public static let publicKeyLength = 32
    public static let seedLength = 32
    public static let signatureLength = 64

    /// A public key: verifies signatures and names a peer.
    public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
        /// The 32 raw key bytes.
        public let rawRepresentation: [UInt8]

        public init(rawRepresentation bytes: [UInt8]) throws(SodiumError) {
            guard bytes.count == Ed25519.publicKeyLength else {
                throw .invalidLength(what: "Ed25519 public key", length: bytes.count, expected: Ed25519.publicKeyLength)
            }
            rawRepresentation = bytes
        }

        /// Whether `signature` is a valid signature of `message` by this key.
        public func isValidSignature(_ signature: some ContiguousBytes, for message: some ContiguousBytes) -> Bool {
            Sodium.ensureInitialized()
            return signature.withUnsafeBytes { sig in
                message.withUnsafeBytes { msg in
                    guard sig.count == Ed25519.signatureLength else { return false }
                    return rawRepresentation.withUnsafeBufferPointer { pk in
                        crypto_sign_verify_detached(
                            sig.bindMemory(to: UInt8.self).baseAddress!,
                            msg.bindMemory(to: UInt8.self).baseAddress,
                            UInt64(msg.count),
                            pk.baseAddress!
                        ) == 0
                    }
                }
            }
        }

        /// The peer ID this key names (identity multihash of its protobuf form).
        public var peerID: PeerID {
            // A 32-byte key always makes a valid identity peer ID.
            try! PeerID(ed25519PublicKey: rawRepresentation)
        }

        /// The key for X25519 key agreement (`crypto_sign_ed25519_pk_to_curve25519`).
        public func x25519() throws(SodiumError) -> X25519.PublicKey {
            Sodium.ensureInitialized()
            var out = [UInt8](repeating: 0, count: 32)
            let rc = out.withUnsafeMutableBufferPointer { o in
                rawRepresentation.withUnsafeBufferPointer {
                    crypto_sign_ed25519_pk_to_curve25519(o.baseAddress!, $0.baseAddress!)
                }
            }
            guard rc == 0 else { throw .invalidPublicKey(reason: "not a valid Ed25519 point") }
            return try X25519.PublicKey(rawRepresentation: out)
        }

        public var description: String { "Ed25519.PublicKey(\(peerID))" }
    }

    /// A private key, held as libsodium's 64-byte secret key (seed ‖ public key) in wiped storage,
    /// and as swift-crypto's signing key made from the same seed (also wiped when released).
    public struct PrivateKey: Sendable, CustomStringConvertible {
        private let secret: SecureBytes
        private let signer: Curve25519.Signing.PrivateKey?
        public let publicKey: PublicKey

        /// A new random key pair.
        public init() {
            Sodium.ensureInitialized()
            var pk = [UInt8](repeating: 0, count: 32)
            secret = SecureBytes(count: 64) { sk in
                _ = pk.withUnsafeMutableBufferPointer {
                    crypto_sign_keypair($0.baseAddress!, sk.bindMemory(to: UInt8.self).baseAddress!)
                }
            }
            publicKey = try! PublicKey(rawRepresentation: pk)
            signer = Self.signer(for: secret, publicKey: pk)
        }

        /// The key pair derived from a 32-byte seed (deterministic).
        public init(seed: some ContiguousBytes) throws(SodiumError) {
            Sodium.ensureInitialized()
            let count = seed.withUnsafeBytes { $0.count }
            guard count == Ed25519.seedLength else {
                throw .invalidLength(what: "Ed25519 seed", length: count, expected: Ed25519.seedLength)
            }
            var pk = [UInt8](repeating: 0, count: 32)
            secret = SecureBytes(count: 64) { sk in
                seed.withUnsafeBytes { s in
                    _ = pk.withUnsafeMutableBufferPointer {
                        crypto_sign_seed_keypair(
                            $0.baseAddress!,
                            sk.bindMemory(to: UInt8.self).baseAddress!,
                            s.bindMemory(to: UInt8.self).baseAddress!
                        )
                    }
                }
            }
            publicKey = try! PublicKey(rawRepresentation: pk)
            signer = Self.signer(for: secret, publicKey: pk)
        }

        /// swift-crypto's key for the same seed; nil if it refused the seed or derived another
        /// public key than libsodium did, in which case libsodium signs.
        private static func signer(for secret: SecureBytes, publicKey: [UInt8]) -> Curve25519.Signing.PrivateKey? {
            let signer = secret.withUnsafeBytes {
                try? Curve25519.Signing.PrivateKey(rawRepresentation: UnsafeRawBufferPointer(rebasing: $0[0..<32]))
            }
            guard let signer, Array(signer.publicKey.rawRepresentation) == publicKey else { return nil }
            return signer
        }

        /// The 32-byte seed, in wiped storage.
        public var seed: SecureBytes {
            secret.withUnsafeBytes { SecureBytes(UnsafeRawBufferPointer(rebasing: $0[0..<32])) }
        }

        /// Signs `message` (detached, 64 bytes).
        public func signature(for message: some ContiguousBytes) -> [UInt8] {
            if let signer,
                let signature = message.withUnsafeBytes({ try? signer.signature(for: $0) }),
                signature.count == Ed25519.signatureLength
            {
                return Array(signature)
            }
            return sodiumSignature(for: message)
        }

        /// Whether signing goes through swift-crypto (it does unless it refused this key).
        var signsWithSwiftCrypto: Bool { signer != nil }

        /// Signs `message` with libsodium (`crypto_sign_detached`).
        func sodiumSignature(for message: some ContiguousBytes) -> [UInt8] {
            var sig = [UInt8](repeating: 0, count: Ed25519.signatureLength)
            message.withUnsafeBytes { msg in
                secret.withUnsafeBytes { sk in
                    _ = sig.withUnsafeMutableBufferPointer {
                        crypto_sign_detached(
                            $0.baseAddress!,
                            nil,
                            msg.bindMemory(to: UInt8.self).baseAddress,
                            UInt64(msg.count),
                            sk.bindMemory(to: UInt8.self).baseAddress!
                        )
                    }
                }
            }
            return sig
        }

        /// The private key for X25519 key agreement (`crypto_sign_ed25519_sk_to_curve25519`).
        public func x25519() -> X25519.PrivateKey {
            let scalar = SecureBytes(count: 32) { out in
                secret.withUnsafeBytes { sk in
                    _ = crypto_sign_ed25519_sk_to_curve25519(
                        out.bindMemory(to: UInt8.self).baseAddress!,
                        sk.bindMemory(to: UInt8.self).baseAddress!
                    )
                }
            }
            return X25519.PrivateKey(secret: scalar)
        }

        public var description: String { "Ed25519.PrivateKey(<redacted>, public: \(publicKey.peerID))" }
    }
}
