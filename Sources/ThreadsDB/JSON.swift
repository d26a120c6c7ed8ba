/// A JSON value: what instances, schemas and queries are made of.
///
/// Numbers are `Double`, as in JavaScript: integers are exact up to 2^53. Objects are unordered;
/// every serialisation sorts their keys, so equal values always give equal bytes.
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var numberValue: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSON]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The member `key` of an object, nil for a missing key or a value that is not an object.
    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The value at a dot path (`a.b.c`): each step goes into an object member, or into an array
    /// element when the step is a decimal index. Nil when any step is missing.
    public func value(at path: FieldPath) -> JSON? {
        var current = self
        for step in path.steps {
            switch current {
            case .object(let members):
                guard let next = members[step] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(step), index >= 0, index < elements.count else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    /// The name of the value's JSON type, as JSON Schema spells it (`integer` for whole numbers).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let value):
            value.rounded() == value && abs(value) < 9.007_199_254_740_992e15 ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// A dot-separated path into a JSON value (`address.city`).
public struct FieldPath: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let steps: [String]

    public init(_ text: String) {
        steps = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    public init(steps: [String]) {
        self.steps = steps
    }

    public var description: String { steps.joined(separator: ".") }

    public static func < (lhs: FieldPath, rhs: FieldPath) -> Bool { lhs.description < rhs.description }
}

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
