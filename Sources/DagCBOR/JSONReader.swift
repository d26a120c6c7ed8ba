import Multiformats

/// Reads DAG-JSON: a strict JSON parser (RFC 8259) that builds IPLD values.
///
/// Written by hand because Foundation's parser rounds large integers through Double and cannot
/// tell `1` from `1.0`, both of which the data model distinguishes.
struct JSONReader {
    let buffer: UnsafeBufferPointer<UInt8>
    private(set) var offset = 0
    /// The first key, as written, of the map read last: the reserved-namespace rules of DAG-JSON
    /// are stated in terms of the order keys appear in the text.
    private var lastMapFirstKey: String?

    init(_ buffer: UnsafeBufferPointer<UInt8>) {
        self.buffer = buffer
    }

    private func fail(_ kind: DagCBORError.Kind, _ reason: String, at position: Int? = nil) -> DagCBORError {
        DagCBORError(kind, codec: "dag-json", offset: position ?? offset, reason)
    }

    private var current: UInt8? { offset < buffer.count ? buffer[offset] : nil }

    private mutating func skipWhitespace() {
        while let c = current, c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09 { offset += 1 }
    }

    mutating func readDocument() throws(DagCBORError) -> IPLD {
        skipWhitespace()
        guard current != nil else { throw fail(.truncated, "empty input") }
        let value = try read(depth: 0)
        skipWhitespace()
        guard offset == buffer.count else { throw fail(.trailingBytes, "unexpected data after the top-level value") }
        return value
    }

    private mutating func expect(_ literal: String) throws(DagCBORError) {
        let start = offset
        for byte in literal.utf8 {
            guard current == byte else {
                throw current == nil
                    ? fail(.truncated, "input ends inside '\(literal)'")
                    : fail(.invalid, "invalid literal (expected '\(literal)')", at: start)
            }
            offset += 1
        }
    }

    mutating func read(depth: Int) throws(DagCBORError) -> IPLD {
        skipWhitespace()
        guard let c = current else { throw fail(.truncated, "input ends where a value was expected") }
        switch c {
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "\""): return .string(try readString())
        case UInt8(ascii: "["):
            guard depth < DagCBOR.Limits.maxDepth else {
                throw fail(.tooDeep, "nesting deeper than \(DagCBOR.Limits.maxDepth) levels")
            }
            offset += 1
            var items: [IPLD] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                offset += 1
                return .list(items)
            }
            while true {
                items.append(try read(depth: depth + 1))
                skipWhitespace()
                guard let next = current else { throw fail(.truncated, "input ends inside a list") }
                offset += 1
                if next == UInt8(ascii: "]") { return .list(items) }
                guard next == UInt8(ascii: ",") else {
                    throw fail(.invalid, "expected ',' or ']' in a list", at: offset - 1)
                }
            }
        case UInt8(ascii: "{"):
            guard depth < DagCBOR.Limits.maxDepth else {
                throw fail(.tooDeep, "nesting deeper than \(DagCBOR.Limits.maxDepth) levels")
            }
            return try readMap(depth: depth)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try readNumber()
        default:
            throw fail(.invalid, "unexpected character '\(Character(Unicode.Scalar(c)))'")
        }
    }

    private mutating func readMap(depth: Int) throws(DagCBORError) -> IPLD {
        let start = offset
        offset += 1
        var entries: [String: IPLD] = [:]
        var firstKey: String?
        var innerFirstKey: String?
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            offset += 1
            lastMapFirstKey = nil
            return .map(entries)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else {
                throw current == nil
                    ? fail(.truncated, "input ends inside a map") : fail(.invalid, "map key must be a string")
            }
            let keyStart = offset
            let key = try readString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else {
                throw current == nil
                    ? fail(.truncated, "input ends inside a map") : fail(.invalid, "expected ':' after a map key")
            }
            offset += 1
            lastMapFirstKey = nil
            let value = try read(depth: depth + 1)
            if firstKey == nil {
                firstKey = key
                innerFirstKey = lastMapFirstKey
            }
            guard entries.updateValue(value, forKey: key) == nil else {
                throw fail(.invalid, "repeat map key \"\(key)\"", at: keyStart)
            }
            skipWhitespace()
            guard let next = current else { throw fail(.truncated, "input ends inside a map") }
            offset += 1
            if next == UInt8(ascii: "}") { break }
            guard next == UInt8(ascii: ",") else {
                throw fail(.invalid, "expected ',' or '}' in a map", at: offset - 1)
            }
        }
        lastMapFirstKey = firstKey
        return try reserved(entries, firstKey: firstKey, innerFirstKey: innerFirstKey, at: start)
    }

    /// Turns the reserved `"/"` forms into links and bytes, and rejects their malformed variants.
    private func reserved(
        _ entries: [String: IPLD],
        firstKey: String?,
        innerFirstKey: String?,
        at start: Int
    ) throws(DagCBORError) -> IPLD {
        // Only maps whose first key as written is "/" are in the reserved namespace.
        guard firstKey == "/", let slash = entries["/"] else { return .map(entries) }
        switch slash {
        case .string(let text):
            guard entries.count == 1 else {
                throw fail(.invalid, "a link map {\"/\": <string>} must have no other keys", at: start)
            }
            let cid: CID
            do {
                cid = try CID(text)
            } catch {
                throw fail(.invalid, "invalid CID in link \"\(text)\": \(error)", at: start)
            }
            guard cid.description == text else {
                throw fail(
                    .invalid,
                    "a link must be a CIDv1 in base32 or a CIDv0 in base58btc, not \"\(text)\"",
                    at: start
                )
            }
            return .link(cid)
        case .map(let inner):
            guard innerFirstKey == "bytes", case .string(let encoded) = inner["bytes"] else { return .map(entries) }
            guard inner.count == 1, entries.count == 1 else {
                throw fail(.invalid, "a bytes map {\"/\": {\"bytes\": <string>}} must have no other keys", at: start)
            }
            do {
                return .bytes(try Multibase.base64.decodeBare(encoded))
            } catch {
                throw fail(.invalid, "invalid base64 in bytes: \(error)", at: start)
            }
        default:
            return .map(entries)
        }
    }

    private mutating func readString() throws(DagCBORError) -> String {
        let start = offset
        offset += 1  // opening quote
        var out: [UInt8] = []
        var runStart = offset
        while true {
            guard let c = current else { throw fail(.truncated, "input ends inside a string", at: start) }
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: buffer[runStart..<offset])
                offset += 1
                break
            }
            if c < 0x20 { throw fail(.invalid, "unescaped control character 0x\(String(c, radix: 16)) in a string") }
            if c != UInt8(ascii: "\\") {
                offset += 1
                continue
            }
            out.append(contentsOf: buffer[runStart..<offset])
            offset += 1
            guard let escape = current else { throw fail(.truncated, "input ends inside an escape", at: start) }
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
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard current == UInt8(ascii: "\\"), offset + 1 < buffer.count,
                        buffer[offset + 1] == UInt8(ascii: "u")
                    else {
                        throw fail(.invalid, "unpaired surrogate \\u\(String(scalar, radix: 16))")
                    }
                    offset += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw fail(.invalid, "unpaired surrogate \\u\(String(scalar, radix: 16))")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail(.invalid, "unpaired surrogate \\u\(String(scalar, radix: 16))")
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default:
                throw fail(.invalid, "invalid escape '\\\(Character(Unicode.Scalar(escape)))'", at: offset - 2)
            }
            runStart = offset
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            throw fail(.invalid, "string is not valid UTF-8", at: start)
        }
        return s
    }

    private mutating func hex4() throws(DagCBORError) -> UInt32 {
        guard offset + 4 <= buffer.count else { throw fail(.truncated, "input ends inside a \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = buffer[offset]
            let digit: UInt8
            switch c {
            case 0x30...0x39: digit = c - 0x30
            case 0x61...0x66: digit = c - 0x61 + 10
            case 0x41...0x46: digit = c - 0x41 + 10
            default: throw fail(.invalid, "invalid hex digit in a \\u escape")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    private mutating func readNumber() throws(DagCBORError) -> IPLD {
        let start = offset
        if current == UInt8(ascii: "-") { offset += 1 }
        func digits() -> Int {
            var n = 0
            while let c = current, c >= 0x30 && c <= 0x39 {
                offset += 1
                n += 1
            }
            return n
        }
        let intStart = offset
        let intDigits = digits()
        guard intDigits > 0 else { throw fail(.invalid, "a number needs digits", at: start) }
        if intDigits > 1 && buffer[intStart] == UInt8(ascii: "0") {
            throw fail(.invalid, "leading zeros are not allowed", at: start)
        }
        var isFloat = false
        if current == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw fail(.invalid, "a decimal point needs digits after it", at: start) }
            isFloat = true
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            offset += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw fail(.invalid, "an exponent needs digits", at: start) }
            isFloat = true
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<offset]), as: UTF8.self)
        if isFloat {
            guard let d = Double(text), d.isFinite else {
                throw fail(.unrepresentable, "\(text) is outside the range of a 64-bit float", at: start)
            }
            return .float(d)
        }
        guard let i = IPLDInteger(decimal: text) else {
            throw fail(
                .unrepresentable,
                "\(text) is outside the data model's integer range (-2^64 to 2^64-1)",
                at: start
            )
        }
        return .integer(i)
    }
}
