import Multiformats

/// Appends canonical DAG-JSON to a byte buffer.
struct JSONWriter {
    var bytes: [UInt8] = []
    var allowReserved = false

    mutating func write(_ value: IPLD, depth: Int) throws(DagCBORError) {
        switch value {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let b): bytes.append(contentsOf: (b ? "true" : "false").utf8)
        case .integer(let i): bytes.append(contentsOf: i.description.utf8)
        case .float(let d):
            guard d.isFinite else {
                throw DagCBORError(
                    .unrepresentable,
                    codec: "dag-json",
                    offset: nil,
                    "float \(d) is not in the IPLD data model"
                )
            }
            bytes.append(contentsOf: JSONFloat.format(d).utf8)
        case .string(let s): writeString(s)
        case .bytes(let b):
            bytes.append(contentsOf: #"{"/":{"bytes":""#.utf8)
            bytes.append(contentsOf: Multibase.base64.encodeBare(b).utf8)
            bytes.append(contentsOf: #""}}"#.utf8)
        case .link(let cid):
            bytes.append(contentsOf: #"{"/":""#.utf8)
            bytes.append(contentsOf: cid.description.utf8)
            bytes.append(contentsOf: #""}"#.utf8)
        case .list(let items):
            guard depth < DagCBOR.Limits.maxDepth else { throw Self.tooDeep() }
            bytes.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                try write(item, depth: depth + 1)
            }
            bytes.append(UInt8(ascii: "]"))
        case .map(let entries):
            guard depth < DagCBOR.Limits.maxDepth else { throw Self.tooDeep() }
            if !allowReserved { try JSONWriter.checkReserved(entries) }
            bytes.append(UInt8(ascii: "{"))
            for (i, key) in entries.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                writeString(key)
                bytes.append(UInt8(ascii: ":"))
                try write(entries[key]!, depth: depth + 1)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    static func tooDeep() -> DagCBORError {
        DagCBORError(.tooDeep, codec: "dag-json", offset: nil, "nesting deeper than \(DagCBOR.Limits.maxDepth) levels")
    }

    /// Maps that would read back as a link or bytes cannot be written: DAG-JSON has no escape.
    static func checkReserved(_ entries: [String: IPLD]) throws(DagCBORError) {
        guard let slash = entries["/"], !entries.keys.contains(where: { $0.utf8.lexicographicallyPrecedes("/".utf8) })
        else {
            return
        }
        switch slash {
        case .string:
            throw DagCBORError(
                .unrepresentable,
                codec: "dag-json",
                offset: nil,
                "a map whose first key is \"/\" with a string value cannot be encoded (it would read as a link)"
            )
        case .map(let inner):
            if case .string = inner["bytes"],
                !inner.keys.contains(where: { $0.utf8.lexicographicallyPrecedes("bytes".utf8) })
            {
                throw DagCBORError(
                    .unrepresentable,
                    codec: "dag-json",
                    offset: nil,
                    "a map of the form {\"/\":{\"bytes\":<string>…}} cannot be encoded (it would read as bytes)"
                )
            }
        default:
            return
        }
    }

    mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case 0x08: bytes.append(contentsOf: #"\b"#.utf8)
            case 0x0c: bytes.append(contentsOf: #"\f"#.utf8)
            case 0x0a: bytes.append(contentsOf: #"\n"#.utf8)
            case 0x0d: bytes.append(contentsOf: #"\r"#.utf8)
            case 0x09: bytes.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xf)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// Formats floats as ECMAScript's Number-to-String does (the form the IPLD fixtures use), with a
/// `.0` added to integral values so they read back as floats.
enum JSONFloat {
    static func format(_ value: Double) -> String {
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description is the shortest string that round-trips; take its digits and exponent.
        var text = Substring(String(describing: value.magnitude))
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = text[..<e]
        }
        var digits = ""
        var pointPosition = text.count
        for (i, c) in text.enumerated() {
            if c == "." { pointPosition = i } else { digits.append(c) }
        }
        // The value is 0.DIGITS × 10^n.
        var n = pointPosition + exponent
        while digits.hasPrefix("0") {
            digits.removeFirst()
            n -= 1
        }
        while digits.hasSuffix("0") { digits.removeLast() }
        let k = digits.count
        let sign = value.sign == .minus ? "-" : ""
        if k <= n && n <= 21 {
            return sign + digits + String(repeating: "0", count: n - k) + ".0"
        }
        if 0 < n && n <= 21 {
            let index = digits.index(digits.startIndex, offsetBy: n)
            return sign + digits[..<index] + "." + digits[index...]
        }
        if -6 < n && n <= 0 {
            return sign + "0." + String(repeating: "0", count: -n) + digits
        }
        let e = n - 1
        let expText = "e" + (e >= 0 ? "+" : "-") + String(abs(e))
        if k == 1 { return sign + digits + expText }
        return sign + String(digits.first!) + "." + digits.dropFirst() + expText
    }
}
