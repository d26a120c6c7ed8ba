/// One key of a query's sort order.
public struct SortKey: Sendable, Equatable {
    public let path: FieldPath
    public let descending: Bool

    public init(_ path: FieldPath, descending: Bool = false) {
        self.path = path
        self.descending = descending
    }
}

/// A query over a collection: a filter, a sort order, and a page (`skip`, `limit`).
///
/// Results always come in a total, deterministic order, whatever order the instances are stored or
/// read in: by the sort keys, then by `_id` ascending (so with no sort keys, by `_id`). Values sort
/// across types as: missing < null < false < true < numbers (numerically, `-0 == 0`) < strings
/// (UTF-8 byte order) < arrays (element by element, a shorter array first when it is a prefix of the
/// other) < objects (by their canonical serialisation, `JSON.serialized`). A descending key reverses
/// that order for its own comparison only; the `_id` tie-break stays ascending.
///
/// Unlike MongoDB, an array field sorts as the whole array (an array value), not by its smallest or
/// largest element.
public struct Query: Sendable, Equatable {
    public var filter: Filter
    public var sort: [SortKey]
    /// How many of the sorted matches to leave out, from the start.
    public var skip: Int
    /// At most this many results; nil for no limit (`0` means no results).
    public var limit: Int?

    public init(filter: Filter = .all, sort: [SortKey] = [], skip: Int = 0, limit: Int? = nil) {
        self.filter = filter
        self.sort = sort
        self.skip = skip
        self.limit = limit
    }

    /// Parses `{"filter"?: {...}, "sort"?: [...], "skip"?: n, "limit"?: n}`.
    ///
    /// `sort` is an array of keys, each `"path"` (ascending), `"-path"` (descending) or
    /// `{"field": "path", "desc"?: bool}`. `skip` and `limit` are non-negative whole numbers. Other
    /// top-level keys, and anything malformed, are a `badQuery`.
    public init(_ json: JSON) throws(DBError) {
        guard case .object(let members) = json else {
            throw .badQuery("a query must be an object, not \(json.typeName)")
        }
        let known: Set<String> = ["filter", "sort", "skip", "limit"]
        if let unknown = members.keys.filter({ !known.contains($0) }).sorted(by: utf8Precedes).first {
            throw .badQuery("unknown query key \(unknown.debugDescription) (use filter, sort, skip, limit)")
        }
        self.init()
        if let filter = members["filter"] { self.filter = try Filter(filter) }
        if let sort = members["sort"] { self.sort = try Self.parseSort(sort) }
        if let skip = members["skip"] { self.skip = try Self.count(skip, name: "skip") }
        if let limit = members["limit"] { self.limit = try Self.count(limit, name: "limit") }
    }

    private static func count(_ value: JSON, name: String) throws(DBError) -> Int {
        guard case .number(let number) = value, number >= 0, let count = Int(exactly: number) else {
            throw .badQuery("\(name) must be a non-negative whole number, not \(value)")
        }
        return count
    }

    private static func parseSort(_ value: JSON) throws(DBError) -> [SortKey] {
        guard case .array(let elements) = value else {
            throw .badQuery(
                "sort must be an array of keys such as \"age\", \"-name\" or {\"field\": \"x\", \"desc\": true}"
            )
        }
        var keys: [SortKey] = []
        keys.reserveCapacity(elements.count)
        for element in elements {
            switch element {
            case .string(let text):
                let descending = text.hasPrefix("-")
                let path = descending ? String(text.dropFirst()) : text
                guard !path.isEmpty else { throw .badQuery("sort key \(text.debugDescription) names no field") }
                keys.append(SortKey(FieldPath(path), descending: descending))
            case .object(let members):
                if let unknown = members.keys.filter({ $0 != "field" && $0 != "desc" }).sorted(by: utf8Precedes).first {
                    throw .badQuery("unknown sort key member \(unknown.debugDescription) (use field, desc)")
                }
                guard case .string(let path)? = members["field"], !path.isEmpty else {
                    throw .badQuery("a sort key object needs \"field\": a non-empty string")
                }
                var descending = false
                if let desc = members["desc"] {
                    guard case .bool(let flag) = desc else {
                        throw .badQuery("\"desc\" in a sort key must be a boolean")
                    }
                    descending = flag
                }
                keys.append(SortKey(FieldPath(path), descending: descending))
            default:
                throw .badQuery("a sort key must be a string or an object, not \(element.typeName)")
            }
        }
        return keys
    }
}

extension Query {
    /// Whether `a` comes before `b` in the result order: the sort keys, then `_id` ascending. A
    /// strict weak order (a total order when `_id`s are unique).
    public func precedes(_ a: JSON, _ b: JSON) -> Bool {
        for key in sort {
            let order = ValueOrder.compare(a.value(at: key.path), b.value(at: key.path))
            if order != 0 { return key.descending ? order > 0 : order < 0 }
        }
        return ValueOrder.compare(a["_id"], b["_id"]) < 0
    }

    /// The scan path: the instances matching the filter, sorted, then `skip` and `limit` applied.
    public func run(over instances: some Sequence<JSON>) -> [JSON] {
        arrange(instances.filter { filter.matches($0) })
    }

    /// Sorts instances that already match the filter (say, those read through an index and
    /// re-checked), then applies `skip` and `limit`. The order does not depend on the input order.
    public func arrange(_ matching: [JSON]) -> [JSON] {
        // Negative values can only come from code, not from JSON: treat them as 0.
        let skip = max(0, self.skip)
        let limit = self.limit.map { max(0, $0) }
        guard limit != 0, skip < matching.count else { return [] }
        // The sort keys are read once per instance rather than once per comparison: a flat table of
        // `width` values per row, so the sort itself does no path lookups and no allocation.
        let width = sort.count + 1
        var table: [JSON?] = []
        table.reserveCapacity(matching.count * width)
        for instance in matching {
            for key in sort { table.append(instance.value(at: key.path)) }
            table.append(instance["_id"])
        }
        let sort = self.sort
        var rows = Array(matching.indices)
        rows.sort { i, j in
            let a = i * width
            let b = j * width
            for (column, key) in sort.enumerated() {
                let order = ValueOrder.compare(table[a + column], table[b + column])
                if order != 0 { return key.descending ? order > 0 : order < 0 }
            }
            return ValueOrder.compare(table[a + width - 1], table[b + width - 1]) < 0
        }
        let end = limit.map { skip + min($0, matching.count - skip) } ?? matching.count
        return rows[skip..<end].map { matching[$0] }
    }
}

/// The total order and the exact equality queries use on JSON values.
enum ValueOrder {
    /// Rank of the value's type class in the sort order (nil is a missing field).
    static func rank(_ value: JSON?) -> Int {
        switch value {
        case nil: 0
        case .null?: 1
        case .bool(false)?: 2
        case .bool(true)?: 3
        case .number?: 4
        case .string?: 5
        case .array?: 6
        case .object?: 7
        }
    }

    /// Three-way comparison in the sort order: negative, zero or positive.
    static func compare(_ a: JSON?, _ b: JSON?) -> Int {
        switch (a, b) {
        case (.number(let x)?, .number(let y)?):
            return x < y ? -1 : (x == y ? 0 : 1)
        case (.string(let x)?, .string(let y)?):
            return compareStrings(x, y)
        case (.array(let x)?, .array(let y)?):
            for (left, right) in zip(x, y) {
                let order = compare(left, right)
                if order != 0 { return order }
            }
            return x.count < y.count ? -1 : (x.count == y.count ? 0 : 1)
        case (.object?, .object?):
            let x = a!.canonicalBytes
            let y = b!.canonicalBytes
            return x.lexicographicallyPrecedes(y) ? -1 : (x == y ? 0 : 1)
        default:
            let x = rank(a)
            let y = rank(b)
            return x < y ? -1 : (x == y ? 0 : 1)
        }
    }

    /// Three-way comparison of strings by their UTF-8 bytes.
    static func compareStrings(_ a: String, _ b: String) -> Int {
        var left = a.utf8.makeIterator()
        var right = b.utf8.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case (let x?, let y?): if x != y { return x < y ? -1 : 1 }
            }
        }
    }

    /// Exact deep equality: numbers numerically, strings and object keys by their UTF-8 bytes.
    /// Swift's `String ==` (and so `JSON ==`) treats canonically equivalent strings as equal, which
    /// would disagree with the sort order and with index keys.
    static func equal(_ a: JSON, _ b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return sameBytes(x, y)
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            return x.allSatisfy { key, value in
                guard let index = y.index(forKey: key) else { return false }
                let other = y[index]
                return sameBytes(other.key, key) && equal(value, other.value)
            }
        default: return false
        }
    }

    static func sameBytes(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8)
    }
}
