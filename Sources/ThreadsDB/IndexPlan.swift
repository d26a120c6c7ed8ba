/// A contiguous range of encoded values (`IndexKey`). Bounds compare bytewise with the encoded value
/// alone, not with the id a stored key carries after it; a nil bound is unbounded.
public struct KeyRange: Sendable, Equatable {
    public var lower: [UInt8]?
    public var lowerInclusive: Bool
    public var upper: [UInt8]?
    public var upperInclusive: Bool

    public init(lower: [UInt8]?, lowerInclusive: Bool = true, upper: [UInt8]?, upperInclusive: Bool = true) {
        self.lower = lower
        self.lowerInclusive = lowerInclusive
        self.upper = upper
        self.upperInclusive = upperInclusive
    }

    /// The range holding one encoded value.
    public static func exactly(_ encoded: [UInt8]) -> KeyRange {
        KeyRange(lower: encoded, upper: encoded)
    }

    /// Whether an encoded value (without any id after it) lies in the range.
    public func contains(_ encoded: ArraySlice<UInt8>) -> Bool {
        if let lower {
            if lowerInclusive {
                if encoded.lexicographicallyPrecedes(lower) { return false }
            } else if !lower.lexicographicallyPrecedes(encoded) {
                return false
            }
        }
        if let upper {
            if upperInclusive {
                if upper.lexicographicallyPrecedes(encoded) { return false }
            } else if !encoded.lexicographicallyPrecedes(upper) {
                return false
            }
        }
        return true
    }

    /// Bytes every encoded value in the range starts with: the longest common prefix of the two
    /// bounds (the type tag for a range within one type, the whole value for an exact match), empty
    /// when a bound is missing. A reader can seek to `lower` and stop at the first key without it.
    public var commonPrefix: [UInt8] {
        guard let lower, let upper else { return [] }
        return Array(zip(lower, upper).prefix { $0 == $1 }.map(\.0))
    }

    /// Whether the range can hold no value at all.
    var isEmpty: Bool {
        guard let lower, let upper else { return false }
        if upper.lexicographicallyPrecedes(lower) { return true }
        return lower == upper && !(lowerInclusive && upperInclusive)
    }
}

/// How a query uses a secondary index: the indexed field and the ranges of encoded values to read.
///
/// Every instance matching the filter has an index entry (`IndexKey.entries`) for `path` inside one
/// of the ranges, but not every instance read that way matches: the plan selects a superset, and
/// the caller re-checks the filter (and then sorts, with `Query.arrange`). The ranges are disjoint
/// and in ascending order, yet one instance can have entries in several of them (an array field),
/// so the caller also removes duplicates.
public struct IndexPlan: Sendable, Equatable, CustomStringConvertible {
    public let path: FieldPath
    /// Ranges to read, ascending; none when the filter can match nothing.
    public let ranges: [KeyRange]
    /// The operators the ranges come from, such as `$eq`, `$in` or `$gte/$lt`.
    public let reason: String

    public init(path: FieldPath, ranges: [KeyRange], reason: String) {
        self.path = path
        self.ranges = ranges
        self.reason = reason
    }

    /// Such as `index on age ($gte/$lt): 1 range`.
    public var description: String {
        "index on \(path) (\(reason)): \(ranges.count) range\(ranges.count == 1 ? "" : "s")"
    }
}

extension Filter {
    /// The best secondary index for this filter among `indexed`, or nil when none applies.
    ///
    /// Only top-level conjuncts are considered (a single field filter, or the field filters of an
    /// `.and`, nested `.and`s included): a condition under `$or`, `$nor` or `$not` never narrows
    /// the read. Usable conditions:
    ///
    /// - `$eq` with a number, string or boolean: one exact range. Not `null`, which also matches
    ///   missing fields, and not arrays or objects, which index entries do not hold.
    /// - `$in` whose values all qualify as for `$eq`: one exact range per distinct value; `$in []`
    ///   gives no range, since it matches nothing.
    /// - `$gt`/`$gte`/`$lt`/`$lte` with a number or a string: a range within that operand's type.
    ///
    /// Several range operators on one field intersect into one range only when the field is in
    /// `arrayFree`: with an array, each operator may be met by a different element
    /// (`{"$gt": 10, "$lt": 5}` matches `[3, 20]`), so an intersection could miss a match. Elsewhere
    /// the plan uses the tightest lower bound alone (or, with none, the tightest upper bound) of
    /// the first operand type. The caller can pass the indexed paths it knows never hold arrays,
    /// because the schema forbids them or because no instance written to the index had one.
    ///
    /// Preference: a plan that reads nothing, then `$eq`, then `$in` (fewer values first), then a
    /// range bounded on both sides, then a one-sided range; ties go to the path listed first.
    public func plan(indexed: [FieldPath], arrayFree: Set<FieldPath> = []) -> IndexPlan? {
        var conjuncts: [(path: FieldPath, conditions: [Condition])] = []
        collectConjuncts(into: &conjuncts)
        var best: (cost: PlanCost, plan: IndexPlan)?
        for path in indexed {
            let conditions = conjuncts.filter { $0.path == path }.flatMap(\.conditions)
            guard let candidate = Self.plan(path: path, conditions: conditions, arrayFree: arrayFree.contains(path))
            else { continue }
            if best == nil || candidate.cost < best!.cost { best = candidate }
        }
        return best?.plan
    }

    private func collectConjuncts(into conjuncts: inout [(path: FieldPath, conditions: [Condition])]) {
        switch self {
        case .and(let filters): for filter in filters { filter.collectConjuncts(into: &conjuncts) }
        case .field(let path, let conditions): conjuncts.append((path, conditions))
        case .all, .or, .nor: break
        }
    }

    private static func plan(
        path: FieldPath,
        conditions: [Condition],
        arrayFree: Bool
    ) -> (cost: PlanCost, plan: IndexPlan)? {
        var bounds: [RangeBound] = []
        func addBound(_ name: String, _ operand: JSON) {
            if let bound = RangeBound(operator: name, operand) { bounds.append(bound) }
        }
        // The best exact-value plan ($eq or $in), which beats any range.
        var exact: (cost: PlanCost, plan: IndexPlan)?
        func offer(_ cost: PlanCost, _ plan: IndexPlan) {
            if exact == nil || cost < exact!.cost { exact = (cost, plan) }
        }
        for condition in conditions {
            switch condition {
            case .eq(let operand):
                if let key = indexableKey(operand) {
                    offer(PlanCost(kind: 1), IndexPlan(path: path, ranges: [.exactly(key)], reason: "$eq"))
                }
            case .isIn(let operands):
                var keys = operands.compactMap(indexableKey)
                // One operand the index cannot answer (null, an array) makes the whole `$in` unusable.
                guard keys.count == operands.count else { continue }
                keys.sort { $0.lexicographicallyPrecedes($1) }
                var ranges: [KeyRange] = []
                for key in keys where key != ranges.last?.lower { ranges.append(.exactly(key)) }
                offer(
                    PlanCost(kind: ranges.isEmpty ? 0 : 2, count: ranges.count),
                    IndexPlan(path: path, ranges: ranges, reason: "$in")
                )
            case .gt(let operand): addBound("$gt", operand)
            case .gte(let operand): addBound("$gte", operand)
            case .lt(let operand): addBound("$lt", operand)
            case .lte(let operand): addBound("$lte", operand)
            case .ne, .notIn, .exists, .not: break
            }
        }
        if let exact { return exact }
        guard let first = bounds.first else { return nil }
        if arrayFree {
            return intersection(path: path, bounds: bounds)
        }
        // One bound alone stays sound for arrays: a matching instance has an element meeting it.
        let sameType = bounds.filter { $0.tag == first.tag }
        let lowers = sameType.filter(\.isLower)
        let chosen =
            lowers.isEmpty
            ? sameType.dropFirst().reduce(first) { $1.isTighter(than: $0) ? $1 : $0 }
            : lowers.dropFirst().reduce(lowers[0]) { $1.isTighter(than: $0) ? $1 : $0 }
        var range = RangeBound.wholeType(chosen.tag)
        if chosen.isLower {
            range.lower = chosen.key
            range.lowerInclusive = chosen.inclusive
        } else {
            range.upper = chosen.key
            range.upperInclusive = chosen.inclusive
        }
        let ranges = range.isEmpty ? [] : [range]
        return (PlanCost(kind: ranges.isEmpty ? 0 : 4), IndexPlan(path: path, ranges: ranges, reason: chosen.name))
    }

    /// The one range every bound allows, for a field that never holds an array.
    private static func intersection(path: FieldPath, bounds: [RangeBound]) -> (cost: PlanCost, plan: IndexPlan) {
        var names: [String] = []
        for bound in bounds where !names.contains(bound.name) { names.append(bound.name) }
        let reason = names.joined(separator: "/")
        // A scalar cannot be both a number and a string.
        guard bounds.allSatisfy({ $0.tag == bounds[0].tag }) else {
            return (PlanCost(kind: 0), IndexPlan(path: path, ranges: [], reason: reason))
        }
        var range = RangeBound.wholeType(bounds[0].tag)
        var lower: RangeBound?
        var upper: RangeBound?
        for bound in bounds {
            if bound.isLower {
                if lower == nil || bound.isTighter(than: lower!) { lower = bound }
            } else if upper == nil || bound.isTighter(than: upper!) {
                upper = bound
            }
        }
        if let lower {
            range.lower = lower.key
            range.lowerInclusive = lower.inclusive
        }
        if let upper {
            range.upper = upper.key
            range.upperInclusive = upper.inclusive
        }
        if range.isEmpty { return (PlanCost(kind: 0), IndexPlan(path: path, ranges: [], reason: reason)) }
        let cost = PlanCost(kind: lower != nil && upper != nil ? 3 : 4)
        return (cost, IndexPlan(path: path, ranges: [range], reason: reason))
    }

    /// The key an `$eq`/`$in` operand can be looked up with, or nil if the index cannot answer it.
    private static func indexableKey(_ operand: JSON) -> [UInt8]? {
        operand == .null ? nil : IndexKey.encode(operand)
    }
}

/// How much a candidate plan reads, roughly: lower is better.
private struct PlanCost: Comparable {
    /// 0: nothing, 1: `$eq`, 2: `$in`, 3: a two-sided range, 4: a one-sided range.
    var kind: Int
    var count = 1

    static func < (a: PlanCost, b: PlanCost) -> Bool {
        (a.kind, a.count) < (b.kind, b.count)
    }
}

/// One side of a range from a comparison operator, as an encoded key.
private struct RangeBound {
    let name: String
    let tag: UInt8
    let key: [UInt8]
    let inclusive: Bool
    let isLower: Bool

    /// Nil for operands the operators never match with (only numbers and strings are ordered).
    init?(operator name: String, _ operand: JSON) {
        switch operand {
        case .number, .string: break
        default: return nil
        }
        guard let key = IndexKey.encode(operand) else { return nil }
        self.name = name
        self.tag = key[0]
        self.key = key
        inclusive = name == "$gte" || name == "$lte"
        isLower = name == "$gt" || name == "$gte"
    }

    /// Whether this bound excludes more than `other`, a bound on the same side.
    func isTighter(than other: RangeBound) -> Bool {
        if key == other.key { return !inclusive && other.inclusive }
        return isLower ? other.key.lexicographicallyPrecedes(key) : key.lexicographicallyPrecedes(other.key)
    }

    /// Every encoded value of one type: numbers are `04` and 8 bytes; strings are `05` and bytes
    /// that never start with `FF` (not valid UTF-8, and an escaped `00` is `00 FF`).
    static func wholeType(_ tag: UInt8) -> KeyRange {
        tag == IndexKey.numberTag
            ? KeyRange(lower: [tag], upper: [tag] + [UInt8](repeating: 0xFF, count: 8))
            : KeyRange(lower: [tag], upper: [tag, 0xFF], upperInclusive: false)
    }
}
