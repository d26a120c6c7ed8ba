/// Which instances a query selects: a Mongo-style filter, parsed.
///
/// The JSON form is an object. Its members are an implicit `$and`: each member is either a field
/// condition (`"age": {"$gte": 18, "$lt": 65}`, `"name": "Ann"`, `"address.city": {"$in": ["Oslo"]}`)
/// or a logical operator (`"$and"`, `"$or"`, `"$nor"`, each a non-empty array of filter objects).
/// `{}` selects every instance.
///
/// A field's key is a dot path (`FieldPath`), looked up with `JSON.value(at:)`: steps go into object
/// members, a decimal step indexes an array, and there is no fan-out over arrays of objects (so
/// `tags.0` is the first tag, while `items.price` on an array of items is missing). A field that
/// is not there is *missing*, which is distinct from `null`.
///
/// A field's value is an operator object when it is a non-empty object whose keys all start with
/// `$`; any other value (including `{}`) is a literal and means `$eq`. An object mixing `$` keys and
/// other keys is a `badQuery`. Semantics of the operators, for a field value `v`:
///
/// - `$eq x`: `v` equals `x`, or `v` is an array with an element equal to `x`. Equality is deep and
///   exact: numbers compare numerically (`0 == -0`), strings by their UTF-8 bytes (unlike Swift's
///   `String ==`, canonically equivalent but differently encoded strings differ, so equality agrees
///   with the sort order and with index keys), objects by members regardless of order. `$eq null`
///   also matches a missing field.
/// - `$ne x`: not `$eq x` (so `$ne null` selects fields that are present and not null).
/// - `$in [a, b, …]`: `$eq a` or `$eq b` or …; `$in []` matches nothing. `$nin`: not `$in`.
/// - `$exists true|false`: whether the field is present (`null` counts as present). Only booleans.
/// - `$gt`/`$gte`/`$lt`/`$lte x`: `x` must be a number or a string. Numbers compare with numbers and
///   strings with strings (UTF-8 byte order); values of any other type, and missing fields, never
///   satisfy them. When `v` is an array, one element satisfying the operator is enough, and each
///   operator is judged on its own: `{"$gt": 10, "$lt": 5}` matches `[3, 20]`, as in MongoDB.
/// - `$not {ops}`: the operator object `{ops}` does not match (so a missing field matches
///   `{"$not": {"$gt": 5}}`). The operand must be a non-empty operator object.
///
/// Several operators in one operator object must all hold. Unknown operators (including a `$`
/// key other than `$and`/`$or`/`$nor` where a field name is expected), `$in`/`$nin` without an
/// array, and other malformed operands are a `badQuery` naming the operator and the field.
///
/// Filters built in Swift rather than parsed are not validated: there, a comparison with an operand
/// other than a number or a string never matches, `.and([])` matches everything and `.or([])`
/// nothing.
public indirect enum Filter: Sendable, Equatable {
    /// Every instance (`{}`).
    case all
    /// Every member matches (an empty list matches everything).
    case and([Filter])
    /// Some member matches.
    case or([Filter])
    /// No member matches.
    case nor([Filter])
    /// The value at the path satisfies every condition.
    case field(FieldPath, [Condition])
}

/// A condition on one field's value: an operator of a filter's operator object. See `Filter`.
public indirect enum Condition: Sendable, Equatable {
    /// `$eq`: equal, or an array holding an equal element; `null` also matches a missing field.
    case eq(JSON)
    /// `$ne`: not `$eq`.
    case ne(JSON)
    /// `$gt`: greater, within numbers or within strings; for an array, some element.
    case gt(JSON)
    /// `$gte`: greater or equal, as `$gt`.
    case gte(JSON)
    /// `$lt`: less, as `$gt`.
    case lt(JSON)
    /// `$lte`: less or equal, as `$gt`.
    case lte(JSON)
    /// `$in`: `$eq` one of the values.
    case isIn([JSON])
    /// `$nin`: not `$in`.
    case notIn([JSON])
    /// `$exists`: the field is present (even if null), or absent.
    case exists(Bool)
    /// `$not`: the operator object these came from does not match, i.e. not all of them hold.
    case not([Condition])
}

// MARK: - Parsing

extension Filter {
    /// Parses a filter object. Members are kept in UTF-8 key order, so equal JSON gives equal
    /// filters; an object with one member is that member's filter, without an enclosing `.and`.
    public init(_ json: JSON) throws(DBError) {
        guard case .object(let members) = json else {
            throw .badQuery("a filter must be an object, not \(json.typeName)")
        }
        var parts: [Filter] = []
        parts.reserveCapacity(members.count)
        for key in members.keys.sorted(by: utf8Precedes) {
            let value = members[key]!
            if key.hasPrefix("$") {
                parts.append(try Self.logical(key, value))
            } else {
                parts.append(.field(FieldPath(key), try Condition.parseFieldValue(value, field: key)))
            }
        }
        switch parts.count {
        case 0: self = .all
        case 1: self = parts[0]
        default: self = .and(parts)
        }
    }

    private static func logical(_ name: String, _ operand: JSON) throws(DBError) -> Filter {
        guard name == "$and" || name == "$or" || name == "$nor" else {
            throw .badQuery("unknown operator \(name) (at the top of a filter only $and, $or and $nor are allowed)")
        }
        guard case .array(let elements) = operand, !elements.isEmpty else {
            throw .badQuery("\(name) needs a non-empty array of filter objects")
        }
        var filters: [Filter] = []
        filters.reserveCapacity(elements.count)
        for element in elements {
            guard case .object = element else {
                throw .badQuery("\(name) needs a non-empty array of filter objects, found \(element.typeName)")
            }
            filters.append(try Filter(element))
        }
        switch name {
        case "$and": return .and(filters)
        case "$or": return .or(filters)
        default: return .nor(filters)
        }
    }
}

extension Condition {
    /// The conditions a field's value stands for: an operator object, or a literal for `$eq`.
    static func parseFieldValue(_ value: JSON, field: String) throws(DBError) -> [Condition] {
        guard case .object(let members) = value, !members.isEmpty else { return [.eq(value)] }
        let operatorCount = members.keys.count { $0.hasPrefix("$") }
        if operatorCount == 0 { return [.eq(value)] }
        guard operatorCount == members.count else {
            throw .badQuery("the value of \(field) mixes operators ($…) and field names")
        }
        return try parseOperators(members, field: field)
    }

    private static func parseOperators(_ members: [String: JSON], field: String) throws(DBError) -> [Condition] {
        var conditions: [Condition] = []
        conditions.reserveCapacity(members.count)
        for name in members.keys.sorted(by: utf8Precedes) {
            let operand = members[name]!
            switch name {
            case "$eq": conditions.append(.eq(operand))
            case "$ne": conditions.append(.ne(operand))
            case "$gt", "$gte", "$lt", "$lte":
                switch operand {
                case .number, .string: break
                default: throw .badQuery("\(name) on \(field) needs a number or a string, not \(operand.typeName)")
                }
                switch name {
                case "$gt": conditions.append(.gt(operand))
                case "$gte": conditions.append(.gte(operand))
                case "$lt": conditions.append(.lt(operand))
                default: conditions.append(.lte(operand))
                }
            case "$in", "$nin":
                guard case .array(let values) = operand else {
                    throw .badQuery("\(name) on \(field) needs an array, not \(operand.typeName)")
                }
                conditions.append(name == "$in" ? .isIn(values) : .notIn(values))
            case "$exists":
                guard case .bool(let present) = operand else {
                    throw .badQuery("$exists on \(field) needs true or false, not \(operand.typeName)")
                }
                conditions.append(.exists(present))
            case "$not":
                guard case .object(let inner) = operand, !inner.isEmpty, inner.keys.allSatisfy({ $0.hasPrefix("$") })
                else {
                    throw .badQuery("$not on \(field) needs an operator object such as {\"$gt\": 5}")
                }
                conditions.append(.not(try parseOperators(inner, field: field)))
            default:
                throw .badQuery("unknown operator \(name) on \(field)")
            }
        }
        return conditions
    }
}

/// Orders strings by their UTF-8 bytes, the order used everywhere in queries.
func utf8Precedes(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}

// MARK: - Matching

extension Filter {
    /// Whether an instance is selected by this filter. Allocates nothing: it runs once per instance
    /// on every scan.
    public func matches(_ instance: JSON) -> Bool {
        switch self {
        case .all: true
        case .and(let filters): filters.allSatisfy { $0.matches(instance) }
        case .or(let filters): filters.contains { $0.matches(instance) }
        case .nor(let filters): !filters.contains { $0.matches(instance) }
        case .field(let path, let conditions): Condition.all(conditions, hold: instance.value(at: path))
        }
    }
}

extension Condition {
    /// Whether a field's value (nil when missing) satisfies this condition.
    public func matches(_ value: JSON?) -> Bool {
        switch self {
        case .eq(let operand): Self.equals(value, operand)
        case .ne(let operand): !Self.equals(value, operand)
        case .isIn(let operands): operands.contains { Self.equals(value, $0) }
        case .notIn(let operands): !operands.contains { Self.equals(value, $0) }
        case .exists(let present): (value != nil) == present
        case .not(let conditions): !Self.all(conditions, hold: value)
        case .gt(let operand): Self.compares(value, operand) { $0 > 0 }
        case .gte(let operand): Self.compares(value, operand) { $0 >= 0 }
        case .lt(let operand): Self.compares(value, operand) { $0 < 0 }
        case .lte(let operand): Self.compares(value, operand) { $0 <= 0 }
        }
    }

    static func all(_ conditions: [Condition], hold value: JSON?) -> Bool {
        conditions.allSatisfy { $0.matches(value) }
    }

    private static func equals(_ value: JSON?, _ operand: JSON) -> Bool {
        guard let value else { return operand == .null }
        if ValueOrder.equal(value, operand) { return true }
        if case .array(let elements) = value {
            return elements.contains { ValueOrder.equal($0, operand) }
        }
        return false
    }

    /// Applies `test` to the three-way comparison of the value (or any of its elements) with the
    /// operand, skipping values of another type class.
    private static func compares(_ value: JSON?, _ operand: JSON, _ test: (Int) -> Bool) -> Bool {
        switch value {
        case nil: false
        case .array(let elements)?:
            elements.contains { element in
                if let order = comparableOrder(element, operand) { return test(order) }
                return false
            }
        case let value?:
            if let order = comparableOrder(value, operand) { test(order) } else { false }
        }
    }

    private static func comparableOrder(_ value: JSON, _ operand: JSON) -> Int? {
        switch (value, operand) {
        case (.number(let a), .number(let b)): a < b ? -1 : (a == b ? 0 : 1)
        case (.string(let a), .string(let b)): ValueOrder.compareStrings(a, b)
        default: nil
        }
    }
}
