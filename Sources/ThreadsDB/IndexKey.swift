/// Order-preserving byte encoding of scalar JSON values, for secondary index keys in LevelDB.
///
/// Comparing encodings bytewise gives the query sort order (`Query`): null < false < true <
/// numbers < strings. Each encoding is self-delimiting, so a stored key `encode(value) + id` sorts
/// by value first, then by id, and can be split again with `encodedLength`.
///
/// - null: `01`; false: `02`; true: `03`.
/// - number: `04` and the 8 bytes of the IEEE 754 bit pattern, big-endian, with the sign bit flipped
///   for positive numbers and every bit inverted for negative ones, so that the bytes sort
///   numerically. `-0` is encoded as `0`, since they are equal.
/// - string: `05`, the UTF-8 bytes with each `00` written as `00 FF`, then the terminator `00 01`. A
///   string therefore sorts before every longer string it is a prefix of, and `00` before any other
///   byte. Valid UTF-8 never holds `FF`, so `05 FF` is above every string.
/// - arrays and objects have no encoding: an index stores an array's scalar elements instead.
public enum IndexKey {
    static let nullTag: UInt8 = 0x01
    static let falseTag: UInt8 = 0x02
    static let trueTag: UInt8 = 0x03
    static let numberTag: UInt8 = 0x04
    static let stringTag: UInt8 = 0x05

    /// The encoding of a scalar value, nil for arrays and objects.
    public static func encode(_ value: JSON) -> [UInt8]? {
        switch value {
        case .null: return [nullTag]
        case .bool(let flag): return [flag ? trueTag : falseTag]
        case .number(let number):
            var out: [UInt8] = []
            out.reserveCapacity(9)
            out.append(numberTag)
            let bits = orderedBits(number)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: bits >> shift)) }
            return out
        case .string(let text):
            var out: [UInt8] = []
            out.reserveCapacity(text.utf8.count + 3)
            out.append(stringTag)
            for byte in text.utf8 {
                out.append(byte)
                if byte == 0 { out.append(0xFF) }
            }
            out.append(0x00)
            out.append(0x01)
            return out
        case .array, .object:
            return nil
        }
    }

    /// The IEEE bits of a number, transformed so that unsigned order is numeric order.
    static func orderedBits(_ number: Double) -> UInt64 {
        let bits = (number == 0 ? 0.0 : number).bitPattern
        return bits & (1 << 63) == 0 ? bits ^ (1 << 63) : ~bits
    }

    /// The length of the encoded value at the start of `key`, so that a stored key
    /// `encode(value) + suffix` can be split; nil when `key` does not start with a whole encoding.
    public static func encodedLength(_ key: ArraySlice<UInt8>) -> Int? {
        guard let tag = key.first else { return nil }
        switch tag {
        case nullTag, falseTag, trueTag:
            return 1
        case numberTag:
            return key.count >= 9 ? 9 : nil
        case stringTag:
            var index = key.startIndex + 1
            while index < key.endIndex {
                if key[index] == 0 {
                    guard index + 1 < key.endIndex else { return nil }
                    switch key[index + 1] {
                    case 0x01: return index + 2 - key.startIndex
                    case 0xFF: index += 2
                    default: return nil
                    }
                } else {
                    index += 1
                }
            }
            return nil
        default:
            return nil
        }
    }

    /// The value encoded at the start of `key` (what follows it is ignored); nil if malformed.
    public static func decode(_ key: ArraySlice<UInt8>) -> JSON? {
        guard let length = encodedLength(key), let tag = key.first else { return nil }
        switch tag {
        case nullTag: return .null
        case falseTag: return .bool(false)
        case trueTag: return .bool(true)
        case numberTag:
            var bits: UInt64 = 0
            for byte in key.dropFirst().prefix(8) { bits = bits << 8 | UInt64(byte) }
            bits = bits & (1 << 63) != 0 ? bits ^ (1 << 63) : ~bits
            return .number(Double(bitPattern: bits))
        default:
            var bytes: [UInt8] = []
            bytes.reserveCapacity(length)
            var escaped = false
            for byte in key.dropFirst().prefix(length - 3) {
                // An escaped 00 is followed by FF, which is dropped.
                if escaped {
                    escaped = false
                    continue
                }
                bytes.append(byte)
                escaped = byte == 0
            }
            return String(validating: bytes, as: UTF8.self).map(JSON.string)
        }
    }

    /// The index entries of an instance for the field at `path`: encoded values, deduplicated and
    /// sorted bytewise. A scalar gives itself; an array gives each of its scalar elements (nested
    /// arrays and objects inside are skipped); a missing field or an object gives none.
    ///
    /// These are exactly what a filter condition usable by an index (`Filter.plan`) can match on,
    /// which is why `$eq null` (which matches missing fields) cannot use an index.
    public static func entries(of instance: JSON, at path: FieldPath) -> [[UInt8]] {
        switch instance.value(at: path) {
        case nil, .object?:
            return []
        case .array(let elements)?:
            var entries = elements.compactMap(encode)
            entries.sort { $0.lexicographicallyPrecedes($1) }
            var unique: [[UInt8]] = []
            unique.reserveCapacity(entries.count)
            for entry in entries where entry != unique.last { unique.append(entry) }
            return unique
        case let value?:
            return encode(value).map { [$0] } ?? []
        }
    }
}
