internal import CSodium
import Foundation

/// BLAKE2b (libsodium `crypto_generichash`).
public enum Blake2b {
    /// Hashes `data` to `outputLength` bytes (16…64), optionally keyed (16…64-byte key).
    public static func hash(
        _ data: some ContiguousBytes,
        outputLength: Int = 32,
        key: [UInt8]? = nil
    ) throws(SodiumError) -> [UInt8] {
        Sodium.ensureInitialized()
        guard (16...64).contains(outputLength) else {
            throw .invalidParameter("BLAKE2b output length \(outputLength) (16 to 64)")
        }
        if let key, !(16...64).contains(key.count) {
            throw .invalidParameter("BLAKE2b key length \(key.count) (16 to 64)")
        }
        var out = [UInt8](repeating: 0, count: outputLength)
        data.withUnsafeBytes { d in
            _ = out.withUnsafeMutableBufferPointer { o in
                (key ?? []).withUnsafeBufferPointer { k in
                    crypto_generichash(
                        o.baseAddress!,
                        outputLength,
                        d.bindMemory(to: UInt8.self).baseAddress,
                        UInt64(d.count),
                        k.baseAddress,
                        k.count
                    )
                }
            }
        }
        return out
    }
}

/// HMAC-SHA256 (libsodium `crypto_auth_hmacsha256`), with keys of any length.
public enum HMACSHA256 {
    public static let macLength = 32

    public static func authenticate(_ message: some ContiguousBytes, key: some ContiguousBytes) -> [UInt8] {
        Sodium.ensureInitialized()
        var state = crypto_auth_hmacsha256_state()
        var out = [UInt8](repeating: 0, count: macLength)
        key.withUnsafeBytes { k in
            // libsodium wants a non-null pointer even for an empty key.
            var zero: UInt8 = 0
            if let base = k.bindMemory(to: UInt8.self).baseAddress {
                _ = crypto_auth_hmacsha256_init(&state, base, k.count)
            } else {
                _ = crypto_auth_hmacsha256_init(&state, &zero, 0)
            }
        }
        message.withUnsafeBytes { m in
            _ = crypto_auth_hmacsha256_update(&state, m.bindMemory(to: UInt8.self).baseAddress, UInt64(m.count))
        }
        _ = out.withUnsafeMutableBufferPointer { crypto_auth_hmacsha256_final(&state, $0.baseAddress!) }
        sodium_memzero(&state, MemoryLayout<crypto_auth_hmacsha256_state>.size)
        return out
    }

    /// Constant-time check of a MAC.
    public static func verify(_ mac: some ContiguousBytes, for message: some ContiguousBytes, key: some ContiguousBytes)
        -> Bool
    {
        Sodium.constantTimeEqual(authenticate(message, key: key), mac)
    }
}

/// Random bytes from the operating system's CSPRNG (libsodium `randombytes_buf`).
public enum Random {
    public static func bytes(count: Int) -> [UInt8] {
        Sodium.ensureInitialized()
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) } }
        return out
    }
}
