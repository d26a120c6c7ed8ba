import ThreadsTestKit

@testable import ThreadsDB

extension SeededGenerator {
    mutating func chance(_ probability: Double) -> Bool {
        Double(next() >> 11) / Double(1 << 53) < probability
    }

    mutating func pick<T>(_ choices: [T]) -> T {
        choices[below(choices.count)]
    }
}

/// Random documents, filters and sort orders over a small vocabulary, so that values collide,
/// compare across types, and sit at the edges the rules care about (`-0`, `null`, missing, arrays,
/// canonically equivalent strings, NUL bytes).
enum Corpus {
    static let numbers: [JSON] = [-10, -2.5, -1, .number(-0.0), 0, 0.5, 1, 2, 3, 7.25, 10, 1e6]
    static let strings: [JSON] = [
        "", "a", "ab", "abc", "b", "B", "Oslo", "Bergen", "\u{E9}", "e\u{301}", "a\u{0}", "a\u{0}b", "z", "\u{65E5}",
    ]
    static let paths = [
        "n", "s", "x", "tags", "tags.0", "tags.1", "addr", "addr.city", "addr.zip", "addr.geo.lat", "nope",
    ]
    static let indexablePaths = ["n", "s", "x", "tags", "tags.0", "addr.city", "addr.zip"]

    static func scalar(_ rng: inout SeededGenerator) -> JSON {
        switch rng.below(10) {
        case 0..<4: rng.pick(numbers)
        case 4..<8: rng.pick(strings)
        case 8: .bool(rng.chance(0.5))
        default: .null
        }
    }

    static func array(_ rng: inout SeededGenerator) -> JSON {
        .array(
            (0..<rng.below(4)).map { _ in
                // Now and then a nested array or object, which index entries must skip.
                rng.chance(0.1) ? (rng.chance(0.5) ? [1, "a"] : ["city": "Oslo"]) : scalar(&rng)
            }
        )
    }

    static func value(_ rng: inout SeededGenerator) -> JSON {
        switch rng.below(20) {
        case 0..<14: scalar(&rng)
        case 14..<18: array(&rng)
        default: ["city": scalar(&rng)]
        }
    }

    static func document(_ rng: inout SeededGenerator, id: Int) -> JSON {
        var members: [String: JSON] = ["_id": .string("d\(1000 + id)")]
        // `n` and `s` never hold arrays, so index plans on them may intersect bounds.
        if rng.chance(0.85) { members["n"] = rng.chance(0.8) ? rng.pick(numbers) : scalar(&rng) }
        if rng.chance(0.85) { members["s"] = rng.chance(0.8) ? rng.pick(strings) : scalar(&rng) }
        if rng.chance(0.85) { members["x"] = value(&rng) }
        if rng.chance(0.85) { members["tags"] = rng.chance(0.7) ? array(&rng) : value(&rng) }
        if rng.chance(0.8) {
            if rng.chance(0.8) {
                var address: [String: JSON] = [:]
                if rng.chance(0.8) { address["city"] = rng.chance(0.8) ? rng.pick(strings) : value(&rng) }
                if rng.chance(0.8) { address["zip"] = value(&rng) }
                if rng.chance(0.5) { address["geo"] = ["lat": rng.pick(numbers)] }
                members["addr"] = .object(address)
            } else {
                members["addr"] = value(&rng)
            }
        }
        return .object(members)
    }

    static func documents(_ rng: inout SeededGenerator, count: Int) -> [JSON] {
        (0..<count).map { document(&rng, id: $0) }
    }

    /// An operand for `$eq`, `$ne`, `$in` or a literal: mostly scalars, sometimes an array or object.
    static func operand(_ rng: inout SeededGenerator) -> JSON {
        switch rng.below(20) {
        case 0..<17: scalar(&rng)
        case 17, 18: .array((0..<rng.below(3)).map { _ in scalar(&rng) })
        default: ["city": rng.pick(strings)]
        }
    }

    static func orderedOperand(_ rng: inout SeededGenerator) -> JSON {
        rng.chance(0.5) ? rng.pick(numbers) : rng.pick(strings)
    }

    static func operatorObject(_ rng: inout SeededGenerator, depth: Int) -> JSON {
        var operators: [String: JSON] = [:]
        for _ in 0..<(1 + rng.below(2)) {
            let name = rng.pick(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not"])
            switch name {
            case "$gt", "$gte", "$lt", "$lte": operators[name] = orderedOperand(&rng)
            case "$in", "$nin": operators[name] = .array((0..<rng.below(4)).map { _ in operand(&rng) })
            case "$exists": operators[name] = .bool(rng.chance(0.5))
            case "$not":
                operators[name] = depth < 2 ? operatorObject(&rng, depth: depth + 1) : ["$exists": true]
            default: operators[name] = operand(&rng)
            }
        }
        return .object(operators)
    }

    static func filter(_ rng: inout SeededGenerator, depth: Int = 0) -> JSON {
        var members: [String: JSON] = [:]
        let count = depth == 0 ? rng.below(4) : 1 + rng.below(2)
        for _ in 0..<count {
            if depth < 3 && rng.chance(0.2) {
                members[rng.pick(["$and", "$or", "$nor"])] = .array(
                    (0..<(1 + rng.below(3))).map { _ in filter(&rng, depth: depth + 1) }
                )
            } else {
                let path = rng.pick(paths)
                members[path] = rng.chance(0.3) ? operand(&rng) : operatorObject(&rng, depth: 0)
            }
        }
        return .object(members)
    }

    /// A conjunction of conditions on indexable paths, the shape index plans are made for.
    static func plannableFilter(_ rng: inout SeededGenerator) -> JSON {
        var members: [String: JSON] = [:]
        for _ in 0..<(1 + rng.below(3)) {
            // Often a path without arrays, where bounds intersect.
            let path = rng.chance(0.4) ? rng.pick(["n", "s"]) : rng.pick(indexablePaths)
            switch rng.below(5) {
            case 0: members[path] = scalar(&rng)
            case 1: members[path] = ["$in": .array((0..<rng.below(4)).map { _ in scalar(&rng) })]
            case 2:
                members[path] = [rng.pick(["$gt", "$gte"]): orderedOperand(&rng)]
            case 3:
                let low = orderedOperand(&rng)
                let high = rng.chance(0.8) && low.numberValue != nil ? rng.pick(numbers) : orderedOperand(&rng)
                members[path] = [rng.pick(["$gt", "$gte"]): low, rng.pick(["$lt", "$lte"]): high]
            default:
                members[path] = operatorObject(&rng, depth: 0)
            }
        }
        if rng.chance(0.2) { members["$or"] = [filter(&rng, depth: 1), filter(&rng, depth: 1)] }
        if rng.chance(0.2) { members["$and"] = [plannableFilter(&rng)] }
        return .object(members)
    }

    /// A random query object: a filter, 1–2 sort keys in either spelling, sometimes skip and limit.
    static func query(_ rng: inout SeededGenerator, filter: JSON) -> JSON {
        var sort: [JSON] = []
        for _ in 0..<(1 + rng.below(2)) {
            let path = rng.pick(paths)
            let descending = rng.chance(0.5)
            if rng.chance(0.5) {
                sort.append(.string(descending ? "-" + path : path))
            } else {
                sort.append(["field": .string(path), "desc": .bool(descending)])
            }
        }
        var members: [String: JSON] = ["filter": filter, "sort": .array(sort)]
        if rng.chance(0.5) { members["skip"] = .number(Double(rng.below(12))) }
        if rng.chance(0.6) { members["limit"] = .number(Double(rng.below(30))) }
        return .object(members)
    }
}

/// A deliberately naive evaluator written straight from the rules, sharing no code with the library
/// beyond `JSON` itself: it reads filter JSON directly and compares values through their canonical
/// bytes.
enum Naive {
    static func lookup(_ document: JSON, _ path: String) -> JSON? {
        var current: JSON? = document
        for step in path.split(separator: ".", omittingEmptySubsequences: false) {
            switch current {
            case .object(let members)?:
                current = members[String(step)]
            case .array(let elements)?:
                if !step.isEmpty, step.allSatisfy(\.isASCII), step.allSatisfy(\.isNumber), let index = Int(step),
                    index < elements.count
                {
                    current = elements[index]
                } else {
                    current = nil
                }
            default:
                current = nil
            }
        }
        return current
    }

    static func matches(_ filter: JSON, _ document: JSON) -> Bool {
        guard case .object(let members) = filter else { fatalError("not a filter") }
        for (key, value) in members {
            let holds: Bool
            switch key {
            case "$and": holds = value.arrayValue!.allSatisfy { matches($0, document) }
            case "$or": holds = value.arrayValue!.contains { matches($0, document) }
            case "$nor": holds = !value.arrayValue!.contains { matches($0, document) }
            default: holds = fieldMatches(lookup(document, key), value)
            }
            if !holds { return false }
        }
        return true
    }

    static func isOperatorObject(_ value: JSON) -> Bool {
        guard case .object(let members) = value, !members.isEmpty else { return false }
        return members.keys.allSatisfy { $0.first == "$" }
    }

    static func fieldMatches(_ value: JSON?, _ spec: JSON) -> Bool {
        guard isOperatorObject(spec) else { return equals(value, spec) }
        for (name, operand) in spec.objectValue! {
            let holds: Bool
            switch name {
            case "$eq": holds = equals(value, operand)
            case "$ne": holds = !equals(value, operand)
            case "$in": holds = operand.arrayValue!.contains { equals(value, $0) }
            case "$nin": holds = !operand.arrayValue!.contains { equals(value, $0) }
            case "$exists": holds = (value != nil) == operand.boolValue!
            case "$not": holds = !fieldMatches(value, operand)
            case "$gt": holds = ordered(value, operand) { $0 > 0 }
            case "$gte": holds = ordered(value, operand) { $0 >= 0 }
            case "$lt": holds = ordered(value, operand) { $0 < 0 }
            case "$lte": holds = ordered(value, operand) { $0 <= 0 }
            default: fatalError("unexpected operator \(name)")
            }
            if !holds { return false }
        }
        return true
    }

    static func same(_ a: JSON, _ b: JSON) -> Bool {
        a.canonicalBytes == b.canonicalBytes
    }

    static func equals(_ value: JSON?, _ operand: JSON) -> Bool {
        guard let value else { return operand == .null }
        if same(value, operand) { return true }
        if case .array(let elements) = value {
            for element in elements where same(element, operand) { return true }
        }
        return false
    }

    static func ordered(_ value: JSON?, _ operand: JSON, _ test: (Int) -> Bool) -> Bool {
        guard let value else { return false }
        let candidates: [JSON]
        if case .array(let elements) = value { candidates = elements } else { candidates = [value] }
        for candidate in candidates {
            if case .number(let a) = candidate, case .number(let b) = operand, test(a < b ? -1 : a > b ? 1 : 0) {
                return true
            }
            if case .string(let a) = candidate, case .string(let b) = operand,
                test(compareBytes(Array(a.utf8), Array(b.utf8)))
            {
                return true
            }
        }
        return false
    }

    static func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var index = 0
        while index < a.count && index < b.count {
            if a[index] != b[index] { return a[index] < b[index] ? -1 : 1 }
            index += 1
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    static func typeOrder(_ value: JSON?) -> Int {
        guard let value else { return 0 }
        switch value {
        case .null: return 1
        case .bool(let flag): return flag ? 3 : 2
        case .number: return 4
        case .string: return 5
        case .array: return 6
        case .object: return 7
        }
    }

    /// The sort order, three-way.
    static func compare(_ a: JSON?, _ b: JSON?) -> Int {
        let (left, right) = (typeOrder(a), typeOrder(b))
        if left != right { return left < right ? -1 : 1 }
        switch (a, b) {
        case (.number(let x)?, .number(let y)?):
            return x < y ? -1 : x > y ? 1 : 0
        case (.string(let x)?, .string(let y)?):
            return compareBytes(Array(x.utf8), Array(y.utf8))
        case (.array(let x)?, .array(let y)?):
            var index = 0
            while index < x.count && index < y.count {
                let order = compare(x[index], y[index])
                if order != 0 { return order }
                index += 1
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        case (.object?, .object?):
            return compareBytes(Array(a!.serialized.utf8), Array(b!.serialized.utf8))
        default:
            return 0
        }
    }

    /// Filter, sort (keys, then `_id`), skip, limit: the query JSON read directly.
    static func run(_ query: JSON, over documents: [JSON]) -> [JSON] {
        let filter = query["filter"] ?? [:]
        var keys: [(path: String, descending: Bool)] = []
        for key in query["sort"]?.arrayValue ?? [] {
            if let text = key.stringValue {
                keys.append(text.first == "-" ? (String(text.dropFirst()), true) : (text, false))
            } else {
                keys.append((key["field"]!.stringValue!, key["desc"]?.boolValue ?? false))
            }
        }
        let sorted = documents.filter { matches(filter, $0) }.sorted { a, b in
            for key in keys {
                let order = compare(lookup(a, key.path), lookup(b, key.path))
                if order != 0 { return key.descending ? order > 0 : order < 0 }
            }
            return compare(a["_id"], b["_id"]) < 0
        }
        let skip = Int(query["skip"]?.numberValue ?? 0)
        let limit = query["limit"]?.numberValue.map { Int($0) } ?? Int.max
        return Array(sorted.dropFirst(skip).prefix(limit))
    }
}

/// The `_id`s of documents, for readable comparisons.
func ids(_ documents: [JSON]) -> [String] {
    documents.map { $0["_id"]?.stringValue ?? "?" }
}
