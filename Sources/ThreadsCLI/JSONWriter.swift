/// Prints JSON with keys in the order given, so command output reads in the documented order.
///
/// Command output is a contract; Foundation's encoders either reorder keys or escape `/`, so a
/// tiny writer keeps the shape exact.
indirect enum JSONOutput {
    case string(String)
    case int(Int64)
    case uint(UInt64)
    case bool(Bool)
    case null
    case array([JSONOutput])
    case object([(String, JSONOutput)])

    /// The value as compact JSON text.
    var compact: String {
        var out = ""
        write(into: &out, indent: nil, level: 0)
        return out
    }

    /// The value as JSON text indented by two spaces.
    var pretty: String {
        var out = ""
        write(into: &out, indent: "  ", level: 0)
        return out
    }

    private func write(into out: inout String, indent: String?, level: Int) {
        switch self {
        case .string(let s): JSONOutput.quote(s, into: &out)
        case .int(let v): out += String(v)
        case .uint(let v): out += String(v)
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            guard !items.isEmpty else {
                out += "[]"
                return
            }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                JSONOutput.newline(&out, indent, level + 1)
                item.write(into: &out, indent: indent, level: level + 1)
            }
            JSONOutput.newline(&out, indent, level)
            out += "]"
        case .object(let members):
            guard !members.isEmpty else {
                out += "{}"
                return
            }
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                JSONOutput.newline(&out, indent, level + 1)
                JSONOutput.quote(key, into: &out)
                out += indent == nil ? ":" : ": "
                value.write(into: &out, indent: indent, level: level + 1)
            }
            JSONOutput.newline(&out, indent, level)
            out += "}"
        }
    }

    /// Compact JSON text (as `JSONSerialization` writes it) laid out as `pretty` lays out values.
    /// Strings and numbers are copied as written, so an integer beyond 2^53 stays exact.
    static func indented(compact text: String, by indent: String = "  ") -> String {
        var out = ""
        var level = 0
        var inString = false
        var escaped = false
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            i += 1
            if inString {
                out.unicodeScalars.append(c)
                if escaped {
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    inString = false
                }
                continue
            }
            switch c {
            case "{", "[":
                let close: Unicode.Scalar = c == "{" ? "}" : "]"
                out.unicodeScalars.append(c)
                if i < scalars.count, scalars[i] == close {
                    out.unicodeScalars.append(close)
                    i += 1
                } else {
                    level += 1
                    newline(&out, indent, level)
                }
            case "}", "]":
                level -= 1
                newline(&out, indent, level)
                out.unicodeScalars.append(c)
            case ",":
                out += ","
                newline(&out, indent, level)
            case ":": out += ": "
            case " ", "\n", "\r", "\t": break
            case "\"":
                inString = true
                out.unicodeScalars.append(c)
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    private static func newline(_ out: inout String, _ indent: String?, _ level: Int) {
        guard let indent else { return }
        out += "\n" + String(repeating: indent, count: level)
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
