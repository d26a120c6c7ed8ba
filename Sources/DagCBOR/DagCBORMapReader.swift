import Multiformats

/// Reads one DAG-CBOR map of a fixed shape straight from bytes: the counterpart of
/// `DagCBORMapWriter` for hot paths that would otherwise decode into an `IPLD.map` (a dictionary
/// keyed by strings, each value boxed) only to pick a few fields out of it.
///
/// The caller names each key it expects, in DAG-CBOR's canonical order, and reads its value
/// right after. The reader is exactly as strict as `DagCBOR.decode`: every head must be minimal,
/// every length must fit, and `end()` refuses missing entries and trailing bytes. A key other than
/// the one expected is an error, so a map with extra, missing, misordered or duplicate keys is
/// refused: with the expected keys in canonical order, only canonical maps of that shape pass.
public struct DagCBORMapReader {
    private let input: [UInt8]
    private var offset: Int
    /// Entries the map declares.
    public private(set) var count: Int
    private var entriesRead = 0

    /// Starts reading `bytes`, which must hold one map.
    public init(_ bytes: [UInt8]) throws(DagCBORError) {
        input = bytes
        offset = 0
        count = 0
        count = try scan { reader throws(DagCBORError) in
            let (info, start) = try reader.head(major: 5, "a map")
            return try reader.length(info, start: start, bytesPerElement: 2, what: "map")
        }
    }

    /// Reads the next key, which must be `expected`.
    public mutating func key(_ expected: StaticString) throws(DagCBORError) {
        guard entriesRead < count else {
            throw DagCBORError(.invalid, codec: "dag-cbor", offset: offset, "the map ends before key \"\(expected)\"")
        }
        try scan { reader throws(DagCBORError) in
            let (info, start) = try reader.head(major: 3, "a string map key")
            let length = try reader.length(info, start: start, bytesPerElement: 1, what: "map key")
            let found = UnsafeBufferPointer(rebasing: reader.buffer[reader.offset..<reader.offset + length])
            guard found.elementsEqual(UnsafeBufferPointer(start: expected.utf8Start, count: expected.utf8CodeUnitCount))
            else {
                throw reader.fail(
                    .invalid,
                    "expected key \"\(expected)\", found \"\(String(decoding: found, as: UTF8.self).prefix(40))\"",
                    at: start
                )
            }
            reader.offset += length
        }
        entriesRead += 1
    }

    /// Whether the next key is `key` (without reading it): for optional entries.
    public func nextKey(is key: StaticString) -> Bool {
        var probe = self
        return (try? probe.key(key)) != nil
    }

    /// The value: a byte string.
    public mutating func bytes() throws(DagCBORError) -> [UInt8] {
        try scan { reader throws(DagCBORError) in
            let (info, start) = try reader.head(major: 2, "a byte string")
            return try reader.readBytes(info, start: start)
        }
    }

    /// The value: an unsigned integer.
    public mutating func unsigned() throws(DagCBORError) -> UInt64 {
        try scan { reader throws(DagCBORError) in
            let (info, start) = try reader.head(major: 0, "an unsigned integer")
            return try reader.argument(info, start: start)
        }
    }

    /// The value: a link.
    public mutating func link() throws(DagCBORError) -> CID {
        guard let cid = try linkOrNull() else {
            throw DagCBORError(.invalid, codec: "dag-cbor", offset: offset, "expected a link, found null")
        }
        return cid
    }

    /// The value: a link or null.
    public mutating func linkOrNull() throws(DagCBORError) -> CID? {
        try scan { reader throws(DagCBORError) in
            let start = reader.offset
            let initial = try reader.byte()
            if initial == 0xf6 { return nil }
            guard initial >> 5 == 6 else { throw reader.fail(.invalid, "expected a link", at: start) }
            return try reader.readLink(initial & 0x1f, start: start)
        }
    }

    /// The value, whatever it is.
    public mutating func value() throws(DagCBORError) -> IPLD {
        try scan { reader throws(DagCBORError) in try reader.read(depth: 1) }
    }

    /// Checks that every entry was read and nothing follows the map.
    public func end() throws(DagCBORError) {
        guard entriesRead == count else {
            throw DagCBORError(.invalid, codec: "dag-cbor", offset: offset, "the map has unexpected entries")
        }
        guard offset == input.count else {
            throw DagCBORError(.trailingBytes, codec: "dag-cbor", offset: offset, "unexpected bytes after the map")
        }
    }

    /// Runs `body` on a reader at the current offset, and moves past what it read.
    private mutating func scan<R>(_ body: (inout CBORReader) throws(DagCBORError) -> R) throws(DagCBORError) -> R {
        let (result, end) = CBORReader.reading(input, from: offset, body)
        offset = end
        return try result.get()
    }
}

extension DagCBOR {
    /// Decodes bytes that hold exactly one byte string (a sealed block's wrapper), without going
    /// through `IPLD`.
    public static func decodeBytes(_ bytes: [UInt8]) throws(DagCBORError) -> [UInt8] {
        try CBORReader.readingWhole(bytes, "byte string") { reader throws(DagCBORError) in
            let (info, start) = try reader.head(major: 2, "a byte string")
            return try reader.readBytes(info, start: start)
        }
    }
}
