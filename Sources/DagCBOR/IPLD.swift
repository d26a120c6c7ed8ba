import Multiformats

/// A value of the IPLD data model: what DAG-CBOR and DAG-JSON encode.
///
/// Maps are keyed by strings and unordered here; the codecs sort keys when they encode, so equal
/// values always encode to the same bytes.
public indirect enum IPLD: Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(IPLDInteger)
    /// A finite float (the data model has no NaN or infinities; the codecs reject them).
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([IPLD])
    case map([String: IPLD])
    case link(CID)

    /// The kind's name as the IPLD data-model docs spell it.
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .integer: "int"
        case .float: "float"
        case .string: "string"
        case .bytes: "bytes"
        case .list: "list"
        case .map: "map"
        case .link: "link"
        }
    }

    public var boolValue: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var integerValue: IPLDInteger? {
        if case .integer(let v) = self { return v }
        return nil
    }

    public var intValue: Int? {
        integerValue?.intValue
    }

    public var floatValue: Double? {
        if case .float(let v) = self { return v }
        return nil
    }

    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    public var bytesValue: [UInt8]? {
        if case .bytes(let v) = self { return v }
        return nil
    }

    public var listValue: [IPLD]? {
        if case .list(let v) = self { return v }
        return nil
    }

    public var mapValue: [String: IPLD]? {
        if case .map(let v) = self { return v }
        return nil
    }

    public var linkValue: CID? {
        if case .link(let v) = self { return v }
        return nil
    }

    public var isNull: Bool {
        self == .null
    }

    /// The entry for `key` of a map; nil for a missing key or a value that is not a map.
    public subscript(key: String) -> IPLD? {
        mapValue?[key]
    }

    /// The element at `index` of a list; nil when out of range or not a list.
    public subscript(index: Int) -> IPLD? {
        guard let list = listValue, list.indices.contains(index) else { return nil }
        return list[index]
    }
}

extension IPLD: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .integer(IPLDInteger(value)) }
    public init(floatLiteral value: Double) { self = .float(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: IPLD...) { self = .list(elements) }

    /// A later duplicate key replaces an earlier one.
    public init(dictionaryLiteral elements: (String, IPLD)...) {
        self = .map(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
