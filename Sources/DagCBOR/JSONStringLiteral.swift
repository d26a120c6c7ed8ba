/// Reads one JSON string literal (RFC 8259, section 7). The DAG-JSON reader and ThreadsDB's JSON
/// parser both read strings through it, so both accept and refuse exactly the same strings.
public enum JSONStringLiteral {
    /// Why a literal was refused, and the offset of the byte it is about.
    public struct Failure: Error, Sendable, Equatable {
        /// The input ends inside the literal (more bytes could have made it valid).
        public let truncated: Bool
        public let reason: String
        public let position: Int
    }

    /// Reads the literal whose opening quote is at `offset` and leaves `offset` just past its
    /// closing quote. Escapes are decoded (a surrogate pair makes one scalar; a lone surrogate is
    /// refused), control characters must be escaped, and the result must be valid UTF-8.
    public static func read(_ bytes: UnsafeBufferPointer<UInt8>, at offset: inout Int) throws(Failure) -> String {
        let start = offset
        func fail(_ reason: String, at position: Int? = nil, truncated: Bool = false) -> Failure {
            Failure(truncated: truncated, reason: reason, position: position ?? offset)
        }
        offset += 1  // the opening quote
        var out: [UInt8] = []
        // Bytes that need no decoding are copied a run at a time.
        var runStart = offset
        while true {
            guard offset < bytes.count else { throw fail("input ends inside a string", at: start, truncated: true) }
            let c = bytes[offset]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[runStart..<offset])
                offset += 1
                break
            }
            if c < 0x20 { throw fail("unescaped control character 0x\(String(c, radix: 16)) in a string") }
            if c != UInt8(ascii: "\\") {
                offset += 1
                continue
            }
            out.append(contentsOf: bytes[runStart..<offset])
            offset += 1
            guard offset < bytes.count else { throw fail("input ends inside an escape", at: start, truncated: true) }
            let escape = bytes[offset]
            offset += 1
            switch escape {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5c)
            case UInt8(ascii: "/"): out.append(0x2f)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                // Surrogate errors point at the escape that starts the pair.
                let escapeStart = offset - 2
                var scalar = try hex4(bytes, at: &offset)
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"),
                        bytes[offset + 1] == UInt8(ascii: "u")
                    else { throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))", at: escapeStart) }
                    offset += 2
                    let low = try hex4(bytes, at: &offset)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))", at: escapeStart)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))", at: escapeStart)
                }
                // Surrogates are excluded above, so this is a valid scalar.
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default:
                throw fail("invalid escape '\\\(Character(Unicode.Scalar(escape)))'", at: offset - 2)
            }
            runStart = offset
        }
        guard let text = String(validating: out, as: UTF8.self) else {
            throw fail("string is not valid UTF-8", at: start)
        }
        return text
    }

    /// `read(_:at:)` over an array's bytes.
    public static func read(_ bytes: [UInt8], at offset: inout Int) throws(Failure) -> String {
        var position = offset
        let result = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(Failure) in try read(buffer, at: &position) }
        }
        offset = position
        return try result.get()
    }

    /// The four hex digits of a `\u` escape.
    private static func hex4(_ bytes: UnsafeBufferPointer<UInt8>, at offset: inout Int) throws(Failure) -> UInt32 {
        guard offset + 4 <= bytes.count else {
            throw Failure(truncated: true, reason: "input ends inside a \\u escape", position: offset)
        }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[offset]
            let digit: UInt8
            switch c {
            case 0x30...0x39: digit = c - 0x30
            case 0x61...0x66: digit = c - 0x61 + 10
            case 0x41...0x46: digit = c - 0x41 + 10
            default: throw Failure(truncated: false, reason: "invalid hex digit in a \\u escape", position: offset)
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }
}
