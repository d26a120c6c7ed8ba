internal import CSodium
import Crypto

/// libsodium must be initialised once before use; the global is initialised lazily and exactly once.
private let sodiumInitialised: Bool = sodium_init() >= 0

extension Multihash {
    /// Hashes `data` with `function`.
    ///
    /// - Throws: only for `.identity` over more than `maxDigestLength` bytes.
    public static func hash(_ data: [UInt8], using function: HashFunction) throws(MultiformatsError) -> Multihash {
        if function == .identity { return try Multihash(code: function.code, digest: data) }
        return data.withUnsafeBytes { computed($0, function) }
    }

    /// Hashes the bytes in `buffer` with `function`, without copying them.
    ///
    /// - Throws: only for `.identity` over more than `maxDigestLength` bytes.
    public static func hash(_ buffer: UnsafeRawBufferPointer, using function: HashFunction) throws(MultiformatsError)
        -> Multihash
    {
        if function == .identity { return try Multihash(code: function.code, digest: buffer) }
        return computed(buffer, function)
    }

    /// Hashes straight into the multihash's one buffer: the header, then the digest.
    private static func computed(_ buffer: UnsafeRawBufferPointer, _ function: HashFunction) -> Multihash {
        switch function {
        case .sha2_256:
            var hasher = SHA256()
            hasher.update(bufferPointer: buffer)
            return hasher.finalize().withUnsafeBytes { Multihash(trustedCode: function.code, digest: $0) }
        case .sha2_512:
            var hasher = SHA512()
            hasher.update(bufferPointer: buffer)
            return hasher.finalize().withUnsafeBytes { Multihash(trustedCode: function.code, digest: $0) }
        case .identity, .blake2b_256:
            let digest = digestBytes(buffer, function)
            return digest.withUnsafeBytes { Multihash(trustedCode: function.code, digest: $0) }
        }
    }

    /// The full digest of `buffer`; computed digests always have valid lengths.
    static func digestBytes(_ buffer: UnsafeRawBufferPointer, _ function: HashFunction) -> [UInt8] {
        switch function {
        case .identity:
            return Array(buffer)
        case .sha2_256:
            var hasher = SHA256()
            hasher.update(bufferPointer: buffer)
            return Array(hasher.finalize())
        case .sha2_512:
            var hasher = SHA512()
            hasher.update(bufferPointer: buffer)
            return Array(hasher.finalize())
        case .blake2b_256:
            precondition(sodiumInitialised, "libsodium failed to initialise")
            var out = [UInt8](repeating: 0, count: 32)
            out.withUnsafeMutableBufferPointer { outBuffer in
                _ = crypto_generichash(
                    outBuffer.baseAddress!,
                    32,
                    buffer.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    UInt64(buffer.count),
                    nil,
                    0
                )
            }
            return out
        }
    }

    /// Whether `data` hashes to this multihash (a truncated digest matches the digest's prefix).
    /// Always false for functions this project does not compute.
    public func verify(_ data: [UInt8]) -> Bool {
        data.withUnsafeBytes { verify($0) }
    }

    /// Whether the bytes in `buffer` hash to this multihash.
    public func verify(_ buffer: UnsafeRawBufferPointer) -> Bool {
        guard let function else { return false }
        if function == .identity { return digestSlice.elementsEqual(buffer) }
        return Multihash.digestBytes(buffer, function).prefix(digestLength).elementsEqual(digestSlice)
    }
}
