/// Unsigned LEB128 varints as used by every multiformat: minimal encodings only, at most 9 bytes.
///
/// The 9-byte limit is the multiformats unsigned-varint rule: it covers values up to 2^63 - 1 and
/// keeps a hostile peer from making a decoder read an unbounded run of continuation bytes.
public enum Varint {
    /// The longest encoding accepted.
    public static let maxLength = 9

    /// The largest value that fits in `maxLength` bytes.
    public static let maxValue: UInt64 = (1 << 63) - 1

    /// The encoding of `value`. Values above `maxValue` are encoded with 10 bytes, which decoders
    /// here reject; callers only encode codes and lengths, which are far smaller.
    public static func encode(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedLength(value))
        encode(value, into: &out)
        return out
    }

    /// Appends the encoding of `value` to `buffer`.
    public static func encode(_ value: UInt64, into buffer: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.append(UInt8(v))
    }

    /// How many bytes `encode(value)` produces.
    public static func encodedLength(_ value: UInt64) -> Int {
        var n = 1
        var v = value >> 7
        while v != 0 {
            n += 1
            v >>= 7
        }
        return n
    }

    /// Reads a varint from the front of `bytes`.
    ///
    /// - Returns: the value and how many bytes it took.
    /// - Throws: `MultiformatsError` when the input is empty or truncated, longer than `maxLength`,
    ///   or not minimal.
    public static func decode<C: Collection>(_ bytes: C) throws(MultiformatsError) -> (value: UInt64, length: Int)
    where C.Element == UInt8 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var length = 0
        for byte in bytes {
            if length == maxLength { throw .varintTooLong(offset: length, maxLength: maxLength) }
            value |= UInt64(byte & 0x7f) << shift
            length += 1
            if byte & 0x80 == 0 {
                // A last byte of zero after other bytes adds nothing: the same value has a shorter form.
                if byte == 0 && length > 1 { throw .nonMinimalVarint(offset: length - 1) }
                return (value, length)
            }
            shift += 7
        }
        if length == 0 { throw .empty(what: "varint") }
        throw .truncated(what: "varint", offset: length)
    }
}

/// A cursor over bytes for the decoders in this module: every read is bounds-checked.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let what: String

    init(_ bytes: [UInt8], offset: Int = 0, what: String) {
        self.bytes = bytes
        self.offset = offset
        self.what = what
    }

    var isAtEnd: Bool { offset >= bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func varint() throws(MultiformatsError) -> UInt64 {
        do {
            let (value, length) = try Varint.decode(bytes[offset...])
            offset += length
            return value
        } catch .empty {
            throw .truncated(what: what, offset: offset)
        } catch .truncated(_, let at) {
            throw .truncated(what: what, offset: offset + at)
        } catch .nonMinimalVarint(let at) {
            throw .invalid(what: what, reason: "non-minimal varint at byte \(offset + at)")
        } catch {
            throw .invalid(what: what, reason: "varint at byte \(offset) is longer than \(Varint.maxLength) bytes")
        }
    }

    /// Moves past `count` bytes without copying them.
    mutating func skip(_ count: Int) throws(MultiformatsError) {
        guard count >= 0, count <= remaining else { throw .truncated(what: what, offset: bytes.count) }
        offset += count
    }

    mutating func take(_ count: Int) throws(MultiformatsError) -> [UInt8] {
        let start = offset
        try skip(count)
        return Array(bytes[start..<offset])
    }
}
