/// The alphabets and algorithms behind `Multibase`.
enum BaseCodec {
    static let base32Lower = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
    static let base32Upper = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
    static let base36Lower = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
    static let base36Upper = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
    static let base58btc = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)
    static let base64Standard = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let base64URL = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Reverse lookup: ASCII byte to digit value, 0xff where the byte is not in the alphabet.
    static func table(_ alphabets: [UInt8]...) -> [UInt8] {
        var table = [UInt8](repeating: 0xff, count: 256)
        for alphabet in alphabets {
            for (value, char) in alphabet.enumerated() { table[Int(char)] = UInt8(value) }
        }
        return table
    }

    // Case-insensitive bases map both cases to the same digit.
    static let base32Table = table(base32Lower, base32Upper)
    static let base36Table = table(base36Lower, base36Upper)
    static let base58Table = table(base58btc)
    static let base64StandardTable = table(base64Standard)
    static let base64URLTable = table(base64URL)

    static func character(_ ascii: [UInt8], _ index: Int) -> Character {
        Character(Unicode.Scalar(ascii[index]))
    }

    static func base16(_ input: [UInt8], upper: Bool) -> [UInt8] {
        let digits = upper ? Array("0123456789ABCDEF".utf8) : Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(input.count * 2)
        for byte in input {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return out
    }

    static func decodeBase16(_ ascii: [UInt8], offset: Int, name: String) throws(MultiformatsError) -> [UInt8] {
        guard ascii.count % 2 == 0 else {
            throw .invalidLength(what: name, length: ascii.count, expected: "an even number of digits")
        }
        func nibble(_ i: Int) throws(MultiformatsError) -> UInt8 {
            let c = ascii[i]
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: throw .invalidCharacter(base: name, character: character(ascii, i), offset: offset + i)
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(ascii.count / 2)
        var i = 0
        while i < ascii.count {
            out.append(try nibble(i) << 4 | nibble(i + 1))
            i += 2
        }
        return out
    }

    /// Power-of-two bases (32, 64): `bits` bits per character, no padding.
    static func encode2n(_ input: [UInt8], alphabet: [UInt8], bits: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity((input.count * 8 + bits - 1) / bits)
        let mask = (1 << bits) - 1
        var buffer = 0
        var count = 0
        for byte in input {
            buffer = (buffer << 8) | Int(byte)
            count += 8
            while count >= bits {
                count -= bits
                out.append(alphabet[(buffer >> count) & mask])
            }
            buffer &= (1 << count) - 1
        }
        if count > 0 {
            out.append(alphabet[(buffer << (bits - count)) & mask])
        }
        return out
    }

    static func decode2n(
        _ ascii: [UInt8],
        table: [UInt8],
        bits: Int,
        offset: Int,
        name: String
    ) throws(MultiformatsError) -> [UInt8] {
        // Lengths that leave a whole character of padding bits cannot come from any input.
        let leftover = ascii.count * bits % 8
        if leftover >= bits {
            throw .invalidLength(what: name, length: ascii.count, expected: "a length some byte string encodes to")
        }
        var out = [UInt8]()
        out.reserveCapacity(ascii.count * bits / 8)
        var buffer = 0
        var count = 0
        for (i, c) in ascii.enumerated() {
            let value = table[Int(c)]
            if value == 0xff {
                throw .invalidCharacter(base: name, character: character(ascii, i), offset: offset + i)
            }
            buffer = (buffer << bits) | Int(value)
            count += bits
            if count >= 8 {
                count -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> count))
                buffer &= (1 << count) - 1
            }
        }
        // Unused trailing bits must be zero: otherwise two strings would decode to the same bytes.
        if buffer != 0 {
            throw .invalid(what: name, reason: "non-zero padding bits in the last character (non-canonical)")
        }
        return out
    }

    /// Arbitrary bases (36, 58): the input is one big number; leading zero bytes become leading
    /// zero digits.
    static func encodeRadix(_ input: [UInt8], alphabet: [UInt8]) -> [UInt8] {
        let radix = alphabet.count
        var zeros = 0
        while zeros < input.count && input[zeros] == 0 { zeros += 1 }
        // Digits in little-endian order; log(256)/log(36) < 1.55 bounds the count.
        var digits = [UInt8](repeating: 0, count: (input.count - zeros) * 155 / 100 + 1)
        var length = 0
        for byte in input[zeros...] {
            var carry = Int(byte)
            var i = 0
            while i < length || carry != 0 {
                if i < length { carry += Int(digits[i]) << 8 }
                digits[i] = UInt8(carry % radix)
                carry /= radix
                i += 1
            }
            length = i
        }
        var out = [UInt8](repeating: alphabet[0], count: zeros)
        out.reserveCapacity(zeros + length)
        for i in stride(from: length - 1, through: 0, by: -1) { out.append(alphabet[Int(digits[i])]) }
        return out
    }

    static func decodeRadix(
        _ ascii: [UInt8],
        table: [UInt8],
        radix: Int,
        offset: Int,
        name: String
    ) throws(MultiformatsError) -> [UInt8] {
        var zeros = 0
        while zeros < ascii.count && table[Int(ascii[zeros])] == 0 { zeros += 1 }
        // Bytes in little-endian order; log(58)/log(256) < 0.74 bounds the count.
        var bytes = [UInt8](repeating: 0, count: (ascii.count - zeros) * 74 / 100 + 1)
        var length = 0
        for i in zeros..<ascii.count {
            let value = table[Int(ascii[i])]
            if value == 0xff || Int(value) >= radix {
                throw .invalidCharacter(base: name, character: character(ascii, i), offset: offset + i)
            }
            var carry = Int(value)
            var j = 0
            while j < length || carry != 0 {
                if j < length { carry += Int(bytes[j]) * radix }
                bytes[j] = UInt8(carry & 0xff)
                carry >>= 8
                j += 1
            }
            length = j
        }
        var out = [UInt8](repeating: 0, count: zeros)
        out.reserveCapacity(zeros + length)
        for i in stride(from: length - 1, through: 0, by: -1) { out.append(bytes[i]) }
        return out
    }
}
