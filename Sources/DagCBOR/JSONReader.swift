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
        do throws(JSONStringLiteral.Failure) {
            return try JSONStringLiteral.read(buffer, at: &offset)
        } catch {
            throw fail(error.truncated ? .truncated : .invalid, error.reason, at: error.position)
        }
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
