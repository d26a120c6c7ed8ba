import Multiformats

/// The strict DAG-CBOR codec (multicodec 0x71).
///
/// Encoding is canonical: map keys sorted by length then bytes, integers and lengths in their
/// shortest form, floats always 64-bit, links as tag 42. Decoding accepts only that canonical form,
/// so every value has exactly one encoding and one CID.
public enum DagCBOR {
    /// The multicodec code.
    public static let code = Multicodec.dagCBOR

    /// Bounds the decoder enforces on untrusted input.
    public enum Limits {
        /// Deepest nesting of lists and maps. Decoding recurses once per level; 256 levels stay far
        /// inside the smallest thread stack (512 KiB), and no record or document needs more.
        public static let maxDepth = 256
    }

    /// Encodes a value canonically.
    ///
    /// - Throws: `DagCBORError` for NaN or infinite floats, or nesting deeper than `Limits.maxDepth`.
    public static func encode(_ value: IPLD) throws(DagCBORError) -> [UInt8] {
        var writer = CBORWriter()
        try writer.write(value, depth: 0)
        return writer.bytes
    }

    /// Decodes exactly one canonical DAG-CBOR value.
    ///
    /// - Throws: `DagCBORError` naming the offset and the rule for any non-canonical, truncated or
    ///   malformed input, or for trailing bytes.
    public static func decode(_ bytes: [UInt8]) throws(DagCBORError) -> IPLD {
        try CBORReader.readingWhole(bytes, "top-level value") { reader throws(DagCBORError) in
            try reader.read(depth: 0)
        }
    }
}

/// Appends canonical DAG-CBOR to a byte buffer.
struct CBORWriter {
    var bytes: [UInt8] = []

    init() {
        bytes.reserveCapacity(256)
    }

    mutating func head(_ major: UInt8, _ argument: UInt64) {
        let m = major << 5
        switch argument {
        case 0..<24:
            bytes.append(m | UInt8(argument))
        case 24...0xff:
            bytes.append(m | 24)
            bytes.append(UInt8(argument))
        case 0x100...0xffff:
            bytes.append(m | 25)
            bytes.append(UInt8(argument >> 8))
            bytes.append(UInt8(argument & 0xff))
        case 0x1_0000...0xffff_ffff:
            bytes.append(m | 26)
            for shift in stride(from: 24, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: argument >> UInt64(shift)))
            }
        default:
            bytes.append(m | 27)
            for shift in stride(from: 56, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: argument >> UInt64(shift)))
            }
        }
    }

    mutating func write(_ value: IPLD, depth: Int) throws(DagCBORError) {
        switch value {
        case .null: bytes.append(0xf6)
        case .bool(let b): bytes.append(b ? 0xf5 : 0xf4)
        case .integer(let i): head(i.isNegative ? 1 : 0, i.argument)
        case .float(let d):
            guard d.isFinite else {
                throw DagCBORError(
                    .unrepresentable,
                    codec: "dag-cbor",
                    offset: nil,
                    "float \(d) is not in the IPLD data model"
                )
            }
            bytes.append(0xfb)
            let bits = d.bitPattern
            for shift in stride(from: 56, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift)))
            }
        case .string(let s):
            var s = s
            s.withUTF8 { utf8 in
                head(3, UInt64(utf8.count))
                bytes.append(contentsOf: utf8)
            }
        case .bytes(let b):
            head(2, UInt64(b.count))
            bytes.append(contentsOf: b)
        case .list(let items):
            guard depth < DagCBOR.Limits.maxDepth else { throw Self.tooDeep() }
            head(4, UInt64(items.count))
            for item in items { try write(item, depth: depth + 1) }
        case .map(let entries):
            guard depth < DagCBOR.Limits.maxDepth else { throw Self.tooDeep() }
            head(5, UInt64(entries.count))
            // Sorting the pairs, not the keys, spares a hash lookup per entry.
            for (key, value) in entries.sorted(by: { CBORWriter.canonicalKeyOrder($0.key, $1.key) }) {
                write(key: key)
                try write(value, depth: depth + 1)
            }
        case .link(let cid):
            write(link: cid)
        }
    }

    /// Tag 42 around the CID's bytes behind the identity multibase prefix (0x00).
    mutating func write(link cid: CID) {
        bytes.append(0xd8)
        bytes.append(42)
        head(2, UInt64(cid.bytes.count + 1))
        bytes.append(0x00)
        bytes.append(contentsOf: cid.bytes)
    }

    private mutating func write(key: String) {
        var key = key
        key.withUTF8 { utf8 in
            head(3, UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    static func tooDeep() -> DagCBORError {
        DagCBORError(.tooDeep, codec: "dag-cbor", offset: nil, "nesting deeper than \(DagCBOR.Limits.maxDepth) levels")
    }

    /// DAG-CBOR key order: shorter UTF-8 first, then bytewise.
    static func canonicalKeyOrder(_ a: String, _ b: String) -> Bool {
        let ac = a.utf8.count
        let bc = b.utf8.count
        if ac != bc { return ac < bc }
        // Same length: bytewise order is UTF-8 order, and `<` on Strings is not (it compares
        // Unicode scalars after normalisation).
        var a = a
        var b = b
        return a.withUTF8 { x in b.withUTF8 { y in x.lexicographicallyPrecedes(y) } }
    }
}
