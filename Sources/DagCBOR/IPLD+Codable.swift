import Multiformats

/// `IPLD` with any `Encoder`/`Decoder`, in the DAG-JSON shape: links as `{"/": "<cid>"}` and bytes as
/// `{"/": {"bytes": "<base64>"}}`. With `IPLDEncoder`/`IPLDDecoder` values pass through unchanged.
extension IPLD: Codable {
    struct FieldKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .integer(let i):
            var c = encoder.singleValueContainer()
            if let v = i.int64Value {
                try c.encode(v)
            } else if let v = i.uint64Value {
                try c.encode(v)
            } else {
                try c.encode(i.doubleValue)
            }
        case .float(let d):
            var c = encoder.singleValueContainer()
            try c.encode(d)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .bytes(let b):
            var c = encoder.container(keyedBy: FieldKey.self)
            var inner = c.nestedContainer(keyedBy: FieldKey.self, forKey: FieldKey("/"))
            try inner.encode(Multibase.base64.encodeBare(b), forKey: FieldKey("bytes"))
        case .link(let cid):
            var c = encoder.container(keyedBy: FieldKey.self)
            try c.encode(cid.description, forKey: FieldKey("/"))
        case .list(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .map(let entries):
            var c = encoder.container(keyedBy: FieldKey.self)
            for (key, value) in entries { try c.encode(value, forKey: FieldKey(key)) }
        }
    }

    public init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: FieldKey.self) {
            var entries: [String: IPLD] = [:]
            for key in keyed.allKeys { entries[key.stringValue] = try keyed.decode(IPLD.self, forKey: key) }
            // Reuse DAG-JSON's reading of the reserved "/" forms.
            if entries["/"] != nil {
                self = try DagJSON.decode(try DagJSON.encodeAllowingReserved(.map(entries)))
            } else {
                self = .map(entries)
            }
            return
        }
        if var unkeyed = try? decoder.unkeyedContainer() {
            var items: [IPLD] = []
            while !unkeyed.isAtEnd { items.append(try unkeyed.decode(IPLD.self)) }
            self = .list(items)
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .integer(IPLDInteger(i))
        } else if let u = try? c.decode(UInt64.self) {
            self = .integer(IPLDInteger(u))
        } else if let d = try? c.decode(Double.self) {
            self = .float(d)
        } else {
            self = .string(try c.decode(String.self))
        }
    }
}
