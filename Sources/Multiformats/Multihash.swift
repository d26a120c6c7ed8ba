/// A self-describing digest: `varint(code) varint(length) digest`.
///
/// Digests may be truncated (shorter than the function's full output), as the multihash spec
/// allows, but never longer than the function produces for the functions whose length is known.
public struct Multihash: Hashable, Sendable, CustomStringConvertible {
    /// Largest digest accepted. Identity multihashes inline their data; past this size the data
    /// belongs in a block, and a decoder must not be made to copy megabytes from a short header.
    public static let maxDigestLength = 4096

    /// The hash function's multicodec code.
    public let code: UInt64
    /// The canonical binary form.
    public let bytes: [UInt8]
    /// Where the digest starts in `bytes`: one array holds both, so hashing allocates once.
    private let digestStart: Int

    /// The digest bytes.
    public var digest: [UInt8] { Array(bytes[digestStart...]) }

    /// The digest without a copy.
    var digestSlice: ArraySlice<UInt8> { bytes[digestStart...] }

    /// The digest's length in bytes.
    public var digestLength: Int { bytes.count - digestStart }

    /// Builds a multihash from a code and a digest, checking the length rules.
    public init(code: UInt64, digest: some Collection<UInt8>) throws(MultiformatsError) {
        try Multihash.check(code: code, length: digest.count, offset: 0)
        var bytes = [UInt8]()
        bytes.reserveCapacity(Varint.encodedLength(code) + Varint.encodedLength(UInt64(digest.count)) + digest.count)
        Varint.encode(code, into: &bytes)
        Varint.encode(UInt64(digest.count), into: &bytes)
        self.digestStart = bytes.count
        bytes.append(contentsOf: digest)
        self.code = code
        self.bytes = bytes
    }

    /// Parses a complete binary multihash; trailing bytes are an error.
    public init(bytes: some Collection<UInt8>) throws(MultiformatsError) {
        let input = Array(bytes)
        let (multihash, length) = try Multihash.decodePrefix(input)
        guard length == input.count else { throw .trailingBytes(what: "multihash", offset: length) }
        self = multihash
    }

    /// For digests this module computed: their lengths are valid by construction.
    init(trustedCode code: UInt64, digest: UnsafeRawBufferPointer) {
        let header = Varint.encodedLength(code) + 1
        let bytes = [UInt8](unsafeUninitializedCapacity: header + digest.count) { out, count in
            var i = 0
            var v = code
            while v >= 0x80 {
                out[i] = UInt8(truncatingIfNeeded: v) | 0x80
                v >>= 7
                i += 1
            }
            out[i] = UInt8(v)
            out[i + 1] = UInt8(digest.count)
            if let source = digest.baseAddress, let target = out.baseAddress {
                (target + header).initialize(from: source.assumingMemoryBound(to: UInt8.self), count: digest.count)
            }
            count = header + digest.count
        }
        self.code = code
        self.digestStart = header
        self.bytes = bytes
    }

    private init(code: UInt64, digestStart: Int, bytes: [UInt8]) {
        self.code = code
        self.digestStart = digestStart
        self.bytes = bytes
    }

    /// Reads a multihash from the front of `bytes` (as inside a CID), returning how many bytes it took.
    public static func decodePrefix(_ bytes: [UInt8], from start: Int = 0) throws(MultiformatsError) -> (
        Multihash, length: Int
    ) {
        var reader = ByteReader(bytes, offset: start, what: "multihash")
        let code = try reader.varint()
        let declared = try reader.varint()
        guard declared <= UInt64(maxDigestLength) else {
            throw .invalidLength(
                what: "multihash digest",
                length: Int(clamping: declared),
                expected: "at most \(maxDigestLength) bytes"
            )
        }
        try check(code: code, length: Int(declared), offset: start)
        let digestStart = reader.offset - start
        try reader.skip(Int(declared))
        let canonical = Array(bytes[start..<reader.offset])
        return (Multihash(code: code, digestStart: digestStart, bytes: canonical), reader.offset - start)
    }

    private static func check(code: UInt64, length: Int, offset: Int) throws(MultiformatsError) {
        guard length <= maxDigestLength else {
            throw .invalidLength(what: "multihash digest", length: length, expected: "at most \(maxDigestLength) bytes")
        }
        if let full = fullDigestLength(code), length > full {
            let name = Multicodec.name(for: code) ?? "0x" + String(code, radix: 16)
            throw .invalidLength(what: "\(name) digest", length: length, expected: "at most \(full) bytes")
        }
    }

    /// Output lengths of known functions, including ones carried but not computed here.
    static func fullDigestLength(_ code: UInt64) -> Int? {
        switch code {
        case 0x11: 20  // sha1
        case 0x12, 0x16, 0xb220: 32  // sha2-256, sha3-256, blake2b-256
        case 0x13, 0x14: 64  // sha2-512, sha3-512
        case 0x15: 48  // sha3-384
        case 0x17: 28  // sha3-224
        default: nil
        }
    }

    /// The function's table name, if known.
    public var name: String? { Multicodec.name(for: code) }

    /// The function, if this project computes it.
    public var function: HashFunction? { HashFunction(code: code) }

    public var description: String {
        "\(name ?? "0x" + String(code, radix: 16)):\(digestLength):" + Multibase.base16.encodeBare(digestSlice)
    }

    public static func == (lhs: Multihash, rhs: Multihash) -> Bool {
        lhs.bytes == rhs.bytes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combineBytes(bytes)
    }
}
