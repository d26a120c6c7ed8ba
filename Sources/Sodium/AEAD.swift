internal import CSodium
import Foundation

/// A 32-byte symmetric key in wiped storage.
public struct SymmetricKey: Sendable, Equatable, CustomStringConvertible {
    public static let length = 32
    let secret: SecureBytes

    /// A new random key.
    public init() {
        secret = SecureBytes.random(count: SymmetricKey.length)
    }

    public init(bytes: some ContiguousBytes) throws(SodiumError) {
        let count = bytes.withUnsafeBytes { $0.count }
        guard count == SymmetricKey.length else {
            throw .invalidLength(what: "symmetric key", length: count, expected: SymmetricKey.length)
        }
        secret = SecureBytes(bytes)
    }

    public init(secure: SecureBytes) throws(SodiumError) {
        guard secure.count == SymmetricKey.length else {
            throw .invalidLength(what: "symmetric key", length: secure.count, expected: SymmetricKey.length)
        }
        secret = secure
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try secret.withUnsafeBytes(body)
    }

    public var description: String { "SymmetricKey(<redacted>)" }
}

/// The AEAD constructions libsodium provides, as used here: XChaCha20-Poly1305-IETF for data at the
/// threads layer (random 24-byte nonces are safe) and ChaCha20-Poly1305-IETF for Noise (12-byte
/// counter nonces). Output is `ciphertext ‖ 16-byte tag`.
public enum AEADAlgorithm: Sendable {
    case xchacha20poly1305
    case chacha20poly1305

    public var nonceLength: Int { self == .xchacha20poly1305 ? 24 : 12 }
    public static let tagLength = 16

    var name: String { self == .xchacha20poly1305 ? "XChaCha20-Poly1305 nonce" : "ChaCha20-Poly1305 nonce" }

    /// Encrypts and authenticates `plaintext` and `associatedData`.
    public func seal(
        _ plaintext: some ContiguousBytes,
        key: SymmetricKey,
        nonce: some ContiguousBytes,
        associatedData: some ContiguousBytes = [UInt8]()
    ) throws(SodiumError) -> [UInt8] {
        let result: Result<[UInt8], SodiumError> = plaintext.withUnsafeBytes { p in
            nonce.withUnsafeBytes { n in
                associatedData.withUnsafeBytes { ad in
                    var out = [UInt8](repeating: 0, count: p.count + AEADAlgorithm.tagLength)
                    let written: Result<Int, SodiumError> = out.withUnsafeMutableBytes { o in
                        Result { () throws(SodiumError) in try seal(p, key: key, nonce: n, associatedData: ad, into: o)
                        }
                    }
                    return written.map { count in
                        out.removeLast(out.count - count)
                        return out
                    }
                }
            }
        }
        return try result.get()
    }

    /// Verifies and decrypts `ciphertext ‖ tag`.
    ///
    /// - Throws: `authenticationFailed` for a wrong key, nonce or associated data, or any change to
    ///   the ciphertext; `invalidLength` for a short input or a wrong nonce size.
    public func open(
        _ ciphertext: some ContiguousBytes,
        key: SymmetricKey,
        nonce: some ContiguousBytes,
        associatedData: some ContiguousBytes = [UInt8]()
    ) throws(SodiumError) -> [UInt8] {
        let result: Result<[UInt8], SodiumError> = ciphertext.withUnsafeBytes { c in
            nonce.withUnsafeBytes { n in
                associatedData.withUnsafeBytes { ad in
                    // One spare byte keeps the buffer non-empty for an empty plaintext.
                    var out = [UInt8](repeating: 0, count: max(c.count - AEADAlgorithm.tagLength, 0) + 1)
                    let written: Result<Int, SodiumError> = out.withUnsafeMutableBytes { o in
                        Result { () throws(SodiumError) in try open(c, key: key, nonce: n, associatedData: ad, into: o)
                        }
                    }
                    return written.map { count in
                        out.removeLast(out.count - count)
                        return out
                    }
                }
            }
        }
        return try result.get()
    }
}

/// XChaCha20-Poly1305-IETF with random nonces: what the threads layer encrypts records with.
public enum XChaCha20Poly1305 {
    public static let nonceLength = 24

    /// Encrypts with a fresh random nonce and returns `nonce ‖ ciphertext ‖ tag`.
    public static func seal(
        _ plaintext: some ContiguousBytes,
        key: SymmetricKey,
        associatedData: some ContiguousBytes = [UInt8]()
    ) -> [UInt8] {
        Sodium.ensureInitialized()
        let count = plaintext.withUnsafeBytes { $0.count }
        // One allocation: the nonce is drawn into the front of the output, the rest sealed after it.
        return [UInt8](unsafeUninitializedCapacity: nonceLength + count + AEADAlgorithm.tagLength) {
            buffer,
            initialized in
            let out = UnsafeMutableRawBufferPointer(buffer)
            randombytes_buf(out.baseAddress!, nonceLength)
            let written = plaintext.withUnsafeBytes { p in
                associatedData.withUnsafeBytes { ad in
                    // Lengths are right by construction, so sealing cannot fail.
                    try! AEADAlgorithm.xchacha20poly1305.seal(
                        p,
                        key: key,
                        nonce: UnsafeRawBufferPointer(rebasing: out[0..<nonceLength]),
                        associatedData: ad,
                        into: UnsafeMutableRawBufferPointer(rebasing: out[nonceLength...])
                    )
                }
            }
            initialized = nonceLength + written
        }
    }

    /// Opens `nonce ‖ ciphertext ‖ tag` as produced by `seal`.
    public static func open(_ box: [UInt8], key: SymmetricKey, associatedData: some ContiguousBytes = [UInt8]())
        throws(SodiumError) -> [UInt8]
    {
        guard box.count >= nonceLength + AEADAlgorithm.tagLength else {
            throw .invalidLength(what: "sealed box", length: box.count, expected: nonceLength + AEADAlgorithm.tagLength)
        }
        return try AEADAlgorithm.xchacha20poly1305.open(
            box[nonceLength...],
            key: key,
            nonce: box[..<nonceLength],
            associatedData: associatedData
        )
    }
}

extension AEADAlgorithm {
    /// Seals `plaintext` into `output`, which must have room for `plaintext.count + 16` bytes, and
    /// returns the bytes written. For hot paths that already hold buffers (the Noise transport):
    /// no intermediate arrays.
    public func seal(
        _ plaintext: UnsafeRawBufferPointer,
        key: SymmetricKey,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(SodiumError) -> Int {
        guard nonce.count == nonceLength else {
            throw .invalidLength(what: name, length: nonce.count, expected: nonceLength)
        }
        guard output.count >= plaintext.count + AEADAlgorithm.tagLength else {
            throw .invalidLength(
                what: "AEAD output buffer",
                length: output.count,
                expected: plaintext.count + AEADAlgorithm.tagLength
            )
        }
        var written: UInt64 = 0
        key.withUnsafeBytes { k in
            let o = output.bindMemory(to: UInt8.self).baseAddress!
            let p = plaintext.bindMemory(to: UInt8.self).baseAddress
            let ad = associatedData.bindMemory(to: UInt8.self).baseAddress
            let n = nonce.bindMemory(to: UInt8.self).baseAddress!
            let kp = k.bindMemory(to: UInt8.self).baseAddress!
            switch self {
            case .xchacha20poly1305:
                _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                    o,
                    &written,
                    p,
                    UInt64(plaintext.count),
                    ad,
                    UInt64(associatedData.count),
                    nil,
                    n,
                    kp
                )
            case .chacha20poly1305:
                _ = crypto_aead_chacha20poly1305_ietf_encrypt(
                    o,
                    &written,
                    p,
                    UInt64(plaintext.count),
                    ad,
                    UInt64(associatedData.count),
                    nil,
                    n,
                    kp
                )
            }
        }
        return Int(written)
    }

    /// Verifies and decrypts `ciphertext ‖ tag` into `output` (room for `ciphertext.count - 16`
    /// bytes); returns the bytes written.
    public func open(
        _ ciphertext: UnsafeRawBufferPointer,
        key: SymmetricKey,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(SodiumError) -> Int {
        guard nonce.count == nonceLength else {
            throw .invalidLength(what: name, length: nonce.count, expected: nonceLength)
        }
        guard ciphertext.count >= AEADAlgorithm.tagLength else {
            throw .invalidLength(what: "ciphertext", length: ciphertext.count, expected: AEADAlgorithm.tagLength)
        }
        guard output.count >= ciphertext.count - AEADAlgorithm.tagLength,
            let o = output.bindMemory(to: UInt8.self).baseAddress
        else {
            throw .invalidLength(
                what: "AEAD output buffer",
                length: output.count,
                expected: ciphertext.count - AEADAlgorithm.tagLength
            )
        }
        var written: UInt64 = 0
        let rc = key.withUnsafeBytes { k in
            let c = ciphertext.bindMemory(to: UInt8.self).baseAddress!
            let ad = associatedData.bindMemory(to: UInt8.self).baseAddress
            let n = nonce.bindMemory(to: UInt8.self).baseAddress!
            let kp = k.bindMemory(to: UInt8.self).baseAddress!
            switch self {
            case .xchacha20poly1305:
                return crypto_aead_xchacha20poly1305_ietf_decrypt(
                    o,
                    &written,
                    nil,
                    c,
                    UInt64(ciphertext.count),
                    ad,
                    UInt64(associatedData.count),
                    n,
                    kp
                )
            case .chacha20poly1305:
                return crypto_aead_chacha20poly1305_ietf_decrypt(
                    o,
                    &written,
                    nil,
                    c,
                    UInt64(ciphertext.count),
                    ad,
                    UInt64(associatedData.count),
                    n,
                    kp
                )
            }
        }
        guard rc == 0 else { throw .authenticationFailed }
        return Int(written)
    }
}
