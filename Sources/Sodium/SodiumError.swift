/// Why a cryptographic operation failed. Messages never include key material.
public enum SodiumError: Error, CustomStringConvertible, Hashable, Sendable {
    /// A key, nonce, seed or signature of the wrong size.
    case invalidLength(what: String, length: Int, expected: Int)
    /// Decryption failed: wrong key, wrong nonce, wrong associated data, or tampered ciphertext.
    case authenticationFailed
    /// A public key that cannot be used (e.g. a small-order point when converting to X25519).
    case invalidPublicKey(reason: String)
    /// A Diffie-Hellman result that is all zeros (the peer sent a low-order point).
    case weakSharedSecret
    /// A libp2p key protobuf that is malformed, with the byte offset.
    case invalidProtobuf(reason: String, offset: Int)
    /// A libp2p key type other than Ed25519.
    case unsupportedKeyType(Int)
    /// A private key whose embedded public key does not match its seed.
    case inconsistentKeyPair
    /// A parameter outside what libsodium accepts.
    case invalidParameter(String)

    public var description: String {
        switch self {
        case .invalidLength(let what, let length, let expected):
            return "\(what): \(length) bytes, expected \(expected)"
        case .authenticationFailed:
            return "decryption failed: wrong key or nonce, or the ciphertext or associated data was altered"
        case .invalidPublicKey(let reason):
            return "invalid public key: \(reason)"
        case .weakSharedSecret:
            return "key exchange produced an all-zero secret (low-order public key)"
        case .invalidProtobuf(let reason, let offset):
            return "invalid key protobuf at byte \(offset): \(reason)"
        case .unsupportedKeyType(let type):
            let names = [0: "RSA", 1: "Ed25519", 2: "Secp256k1", 3: "ECDSA"]
            return "unsupported key type \(names[type] ?? String(type)); only Ed25519 keys are supported"
        case .inconsistentKeyPair:
            return "private key's embedded public key does not match its seed"
        case .invalidParameter(let text):
            return "invalid parameter: \(text)"
        }
    }
}
