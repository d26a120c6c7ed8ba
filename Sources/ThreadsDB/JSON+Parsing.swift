import DagCBOR

extension JSON {
    /// Parses JSON text (RFC 8259). Nesting is limited to 256 levels; numbers must fit a Double.
    public init(parsing text: String) throws(DBError) {
        self = try JSON(parsing: Array(text.utf8))
    }

    public init(parsing bytes: [UInt8]) throws(DBError) {
        var parser = JSONParser(bytes: bytes)
        self = try parser.document()
    }
}

struct JSONParser {
    let bytes: [UInt8]
    var offset = 0
    static let maxDepth = 256

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    func fail(_ reason: String, at position: Int? = nil) -> DBError {
        let position = min(position ?? offset, bytes.count)
        var line = 1
        var column = 1
        for byte in bytes[..<position] {
            if byte == 0x0a {
                line += 1
                column = 1
            } else if byte & 0xc0 != 0x80 {
                column += 1
            }
        }
        return .badJSON(where: "line \(line), column \(column)", reason: reason)
    }

    var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    mutating func skipWhitespace() {
        while let c = current, c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { offset += 1 }
    }

    mutating func document() throws(DBError) -> JSON {
        skipWhitespace()
        guard current != nil else { throw fail("empty input") }
        let value = try value(depth: 0)
        skipWhitespace()
        guard current == nil else { throw fail("unexpected text after the value") }
        return value
    }

    mutating func value(depth: Int) throws(DBError) -> JSON {
        guard depth < Self.maxDepth else { throw fail("nested more than \(Self.maxDepth) levels") }
        skipWhitespace()
        guard let c = current else { throw fail("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"):
            offset += 1
            var members: [String: JSON] = [:]
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                offset += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let keyStart = offset
                let key = try string()
                guard members[key] == nil else { throw fail("duplicate key \(key.debugDescription)", at: keyStart) }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw fail("expected ':'") }
                offset += 1
                members[key] = try value(depth: depth + 1)
                skipWhitespace()
                if current == UInt8(ascii: ",") {
                    offset += 1
                } else if current == UInt8(ascii: "}") {
                    offset += 1
                    return .object(members)
                } else {
                    throw fail("expected ',' or '}'")
                }
            }
        case UInt8(ascii: "["):
            offset += 1
            var elements: [JSON] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                offset += 1
                return .array(elements)
            }
            while true {
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                if current == UInt8(ascii: ",") {
                    offset += 1
                } else if current == UInt8(ascii: "]") {
                    offset += 1
                    return .array(elements)
                } else {
                    throw fail("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try number())
        default:
            throw fail("unexpected character '\(Unicode.Scalar(c))'")
        }
    }

    mutating func literal(_ word: String) throws(DBError) {
        let start = offset
        for byte in word.utf8 {
            guard current == byte else { throw fail("expected \(word)", at: start) }
            offset += 1
        }
    }

    mutating func number() throws(DBError) -> Double {
        let start = offset
        func digits() -> Int {
            let begin = offset
            while let c = current, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { offset += 1 }
            return offset - begin
        }
        if current == UInt8(ascii: "-") { offset += 1 }
        if current == UInt8(ascii: "0") {
            offset += 1
        } else {
            guard digits() > 0 else { throw fail("expected a digit") }
        }
        if current == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw fail("expected a digit after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            offset += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw fail("expected a digit in the exponent") }
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw fail("number out of range", at: start) }
        return value
    }

    mutating func string() throws(DBError) -> String {
        do throws(JSONStringLiteral.Failure) {
            return try JSONStringLiteral.read(bytes, at: &offset)
        } catch {
            throw fail(error.reason, at: error.position)
        }
    }
}
