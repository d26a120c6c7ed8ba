import Foundation

/// A collection's JSON Schema (a practical subset of draft 2020-12), compiled once.
///
/// Supported keywords: `type`, `enum`, `const`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
/// `multipleOf`, `minLength`, `maxLength`, `pattern`, `prefixItems`, `items`, `minItems`, `maxItems`,
/// `uniqueItems`, `properties`, `patternProperties`, `additionalProperties`, `required`, `minProperties`,
/// `maxProperties`, `allOf`, `anyOf`, `oneOf` and `not`; `true` and `false` are schemas too. Keywords that
/// would constrain instances but are not implemented (`$ref`, `if`, `contains`, …) make a bad schema; other
/// keywords (`$schema`, `$id`, `title`, `description`, `default`, `format`, …) are ignored.
///
/// `pattern` uses `NSRegularExpression` (ICU syntax, close to ECMA-262) and, as JSON Schema says, matches
/// anywhere in the string unless the pattern is anchored.
public struct JSONSchema: Sendable, Equatable {
    /// The schema as given (kept to store and replicate it).
    public let json: JSON
    private let root: Node

    /// Compiles `json`; throws DBError.badSchema naming the bad keyword and its schema path when a keyword has a
    /// value of the wrong kind (e.g. "type": 5, "minimum": "x", "pattern" that is not a valid regex, "required"
    /// not an array of strings, unknown type name).
    public init(_ json: JSON) throws(DBError) {
        self.json = json
        root = try Node(compiling: json, at: "#")
    }

    /// Throws DBError.schemaViolation(collection: collection, path: <instance path>, reason: <human reason>) for
    /// the FIRST violation found (deterministic order: keywords in a fixed order, object properties in sorted key
    /// order, array items by index).
    public func validate(_ instance: JSON, collection: String) throws(DBError) {
        var report = Report(firstOnly: true)
        var path = InstancePath()
        root.check(instance, at: &path, into: &report)
        if let first = report.violations.first {
            throw .schemaViolation(collection: collection, path: first.path, reason: first.reason)
        }
    }

    /// All violations (path, reason), in the same deterministic order; empty when valid.
    public func violations(of instance: JSON) -> [(path: String, reason: String)] {
        var report = Report(firstOnly: false)
        var path = InstancePath()
        root.check(instance, at: &path, into: &report)
        return report.violations
    }

    /// Two schemas are equal when their JSON is: the compiled form is derived from it.
    public static func == (lhs: JSONSchema, rhs: JSONSchema) -> Bool {
        lhs.json == rhs.json
    }
}

// MARK: - Compiled form

/// A compiled schema: a boolean schema, or the keywords of an object schema.
private indirect enum Node: Sendable {
    case always(Bool)
    case rules(Rules)

    init(compiling json: JSON, at pointer: String) throws(DBError) {
        switch json {
        case .bool(let accepts): self = .always(accepts)
        case .object(let members): self = .rules(try Rules(compiling: members, at: pointer))
        default: throw .badSchema("a schema must be an object or a boolean, found \(json.kindName) (at \(pointer))")
        }
    }

    var rejectsAll: Bool {
        if case .always(false) = self { return true }
        return false
    }

    func check(_ instance: JSON, at path: inout InstancePath, into report: inout Report) {
        switch self {
        case .always(true): return
        case .always(false): report.add("no value is allowed here", at: path)
        case .rules(let rules): rules.check(instance, at: &path, into: &report)
        }
    }

    /// Whether `instance` matches, for the applicators that only need a yes or a no.
    func accepts(_ instance: JSON, at path: inout InstancePath) -> Bool {
        var report = Report(firstOnly: true)
        check(instance, at: &path, into: &report)
        return report.violations.isEmpty
    }
}

private enum TypeName: String, Sendable {
    case null, boolean, object, array, number, string, integer

    func accepts(_ value: JSON) -> Bool {
        switch (self, value) {
        case (.null, .null), (.boolean, .bool), (.object, .object), (.array, .array), (.number, .number),
            (.string, .string):
            true
        // Draft 2020-12 counts 1.0 as an integer: what matters is the value, not how it was written.
        case (.integer, .number(let number)): number.isFinite && number.rounded() == number
        default: false
        }
    }
}

/// `NSRegularExpression` is immutable and documented as safe to share between threads, but it is not marked
/// `Sendable`; this wrapper vouches for it so compiled schemas can be shared across tasks.
private final class Pattern: @unchecked Sendable {
    let source: String
    private let expression: NSRegularExpression

    init?(_ source: String) {
        guard let expression = try? NSRegularExpression(pattern: source) else { return nil }
        self.source = source
        self.expression = expression
    }

    func matches(_ text: String) -> Bool {
        let range = NSRange(location: 0, length: text.utf16.count)
        return expression.rangeOfFirstMatch(in: text, options: [], range: range).location != NSNotFound
    }
}

private struct PatternProperty: Sendable {
    let pattern: Pattern
    let schema: Node
}

/// The keywords of one object schema; absent keywords are nil or empty so checking skips them cheaply.
private struct Rules: Sendable {
    var types: [TypeName]?
    var allowedValues: [JSON]?
    var constant: JSON?
    var minimum: Double?
    var maximum: Double?
    var exclusiveMinimum: Double?
    var exclusiveMaximum: Double?
    var multipleOf: Double?
    var minLength: Int?
    var maxLength: Int?
    var pattern: Pattern?
    var minItems: Int?
    var maxItems: Int?
    var uniqueItems = false
    var prefixItems: [Node] = []
    var items: Node?
    var minProperties: Int?
    var maxProperties: Int?
    var required: [String] = []
    var properties: [String: Node] = [:]
    var patternProperties: [PatternProperty] = []
    var additionalProperties: Node?
    var allOf: [Node] = []
    var anyOf: [Node] = []
    var oneOf: [Node] = []
    var negated: Node?

    private var checksMembers: Bool {
        !properties.isEmpty || !patternProperties.isEmpty || additionalProperties != nil
    }

    private var checksElements: Bool { !prefixItems.isEmpty || items != nil }
}

// MARK: - Compiling

extension Rules {
    /// Keywords that would constrain instances but are not implemented: refused, so a schema
    /// never silently accepts what its author meant to reject.
    static let unsupported: Set<String> = [
        "$ref", "$dynamicRef", "contains", "minContains", "maxContains", "propertyNames", "dependentRequired",
        "dependentSchemas", "dependencies", "if", "then", "else", "unevaluatedItems", "unevaluatedProperties",
    ]

    init(compiling members: [String: JSON], at pointer: String) throws(DBError) {
        if let keyword = members.keys.filter(Self.unsupported.contains).sorted().first {
            throw .badSchema("\"\(keyword)\" is not supported (at \(pointer)/\(keyword))")
        }
        let reader = KeywordReader(members: members, pointer: pointer)
        types = try reader.types()
        if let values = members["enum"] {
            guard case .array(let elements) = values else { throw reader.bad("enum", "must be an array", values) }
            allowedValues = elements
        }
        constant = members["const"]
        minimum = try reader.number("minimum")
        maximum = try reader.number("maximum")
        exclusiveMinimum = try reader.number("exclusiveMinimum")
        exclusiveMaximum = try reader.number("exclusiveMaximum")
        multipleOf = try reader.number("multipleOf")
        if let multipleOf, multipleOf <= 0 {
            throw reader.bad("multipleOf", "must be a number greater than 0", .number(multipleOf))
        }
        minLength = try reader.count("minLength")
        maxLength = try reader.count("maxLength")
        pattern = try reader.pattern()
        minItems = try reader.count("minItems")
        maxItems = try reader.count("maxItems")
        uniqueItems = try reader.flag("uniqueItems")
        prefixItems = try reader.schemas("prefixItems")
        items = try reader.schema("items")
        minProperties = try reader.count("minProperties")
        maxProperties = try reader.count("maxProperties")
        required = try reader.required()
        properties = try reader.properties()
        patternProperties = try reader.patternProperties()
        additionalProperties = try reader.schema("additionalProperties")
        allOf = try reader.schemas("allOf")
        anyOf = try reader.schemas("anyOf")
        oneOf = try reader.schemas("oneOf")
        negated = try reader.schema("not")
    }
}

/// Reads the keywords of one schema object, and names the keyword and its place when one is malformed.
private struct KeywordReader {
    let members: [String: JSON]
    let pointer: String

    func bad(_ keyword: String, _ problem: String, _ found: JSON, at suffix: String = "") -> DBError {
        let place = "\(pointer)/\(keyword)\(suffix)"
        return .badSchema("\"\(keyword)\" \(problem), found \(found.shortDescription) (at \(place))")
    }

    func types() throws(DBError) -> [TypeName]? {
        guard let value = members["type"] else { return nil }
        let names: [JSON]
        switch value {
        case .string: names = [value]
        case .array(let elements) where !elements.isEmpty: names = elements
        default: throw bad("type", "must be a type name or a non-empty array of type names", value)
        }
        var types: [TypeName] = []
        for (index, name) in names.enumerated() {
            let suffix = value.arrayValue == nil ? "" : "/\(index)"
            guard case .string(let text) = name else {
                throw bad("type", "must be a type name or a non-empty array of type names", name, at: suffix)
            }
            guard let type = TypeName(rawValue: text) else {
                throw bad("type", "must name null, boolean, object, array, number, string or integer", name, at: suffix)
            }
            if !types.contains(type) { types.append(type) }
        }
        return types
    }

    func number(_ keyword: String) throws(DBError) -> Double? {
        guard let value = members[keyword] else { return nil }
        guard case .number(let number) = value, number.isFinite else { throw bad(keyword, "must be a number", value) }
        return number
    }

    func count(_ keyword: String) throws(DBError) -> Int? {
        guard let value = members[keyword] else { return nil }
        guard case .number(let number) = value, number >= 0, number.rounded() == number else {
            throw bad(keyword, "must be a non-negative integer", value)
        }
        // A bound beyond Int's range can never be reached, so clamping it keeps its meaning.
        return number < 9.2e18 ? Int(number) : Int.max
    }

    func flag(_ keyword: String) throws(DBError) -> Bool {
        guard let value = members[keyword] else { return false }
        guard case .bool(let flag) = value else { throw bad(keyword, "must be a boolean", value) }
        return flag
    }

    func pattern() throws(DBError) -> Pattern? {
        guard let value = members["pattern"] else { return nil }
        guard case .string(let source) = value else { throw bad("pattern", "must be a string", value) }
        guard let pattern = Pattern(source) else { throw bad("pattern", "must be a valid regular expression", value) }
        return pattern
    }

    func schema(_ keyword: String) throws(DBError) -> Node? {
        guard let value = members[keyword] else { return nil }
        guard value.isSchemaShaped else { throw bad(keyword, "must be a schema (an object or a boolean)", value) }
        return try Node(compiling: value, at: "\(pointer)/\(keyword)")
    }

    func schemas(_ keyword: String) throws(DBError) -> [Node] {
        guard let value = members[keyword] else { return [] }
        guard case .array(let elements) = value, !elements.isEmpty else {
            throw bad(keyword, "must be a non-empty array of schemas", value)
        }
        var nodes: [Node] = []
        for (index, element) in elements.enumerated() {
            guard element.isSchemaShaped else {
                throw bad(keyword, "must be a non-empty array of schemas", element, at: "/\(index)")
            }
            nodes.append(try Node(compiling: element, at: "\(pointer)/\(keyword)/\(index)"))
        }
        return nodes
    }

    func required() throws(DBError) -> [String] {
        guard let value = members["required"] else { return [] }
        guard case .array(let elements) = value else { throw bad("required", "must be an array of strings", value) }
        var names: Set<String> = []
        for (index, element) in elements.enumerated() {
            guard case .string(let name) = element else {
                throw bad("required", "must be an array of strings", element, at: "/\(index)")
            }
            names.insert(name)
        }
        // Sorted so missing members are reported in the same order as the members that are present.
        return names.sorted(by: utf8Order)
    }

    func properties() throws(DBError) -> [String: Node] {
        guard let value = members["properties"] else { return [:] }
        guard case .object(let entries) = value else {
            throw bad("properties", "must be an object of schemas", value)
        }
        var nodes: [String: Node] = [:]
        for (name, schema) in entries {
            let suffix = "/" + escapePointerToken(name)
            guard schema.isSchemaShaped else {
                throw bad("properties", "must be an object of schemas", schema, at: suffix)
            }
            nodes[name] = try Node(compiling: schema, at: "\(pointer)/properties\(suffix)")
        }
        return nodes
    }

    func patternProperties() throws(DBError) -> [PatternProperty] {
        guard let value = members["patternProperties"] else { return [] }
        guard case .object(let entries) = value else {
            throw bad("patternProperties", "must be an object of schemas", value)
        }
        var compiled: [PatternProperty] = []
        // Sorted so the same schema always reports violations in the same order.
        for source in entries.keys.sorted(by: utf8Order) {
            let schema = entries[source]!
            let suffix = "/" + escapePointerToken(source)
            guard let pattern = Pattern(source) else {
                throw bad("patternProperties", "keys must be valid regular expressions", .string(source), at: suffix)
            }
            guard schema.isSchemaShaped else {
                throw bad("patternProperties", "must be an object of schemas", schema, at: suffix)
            }
            let node = try Node(compiling: schema, at: "\(pointer)/patternProperties\(suffix)")
            compiled.append(PatternProperty(pattern: pattern, schema: node))
        }
        return compiled
    }
}

// MARK: - Checking

extension Rules {
    /// Keywords run in a fixed order (type, enum, const, numbers, strings, arrays, objects, applicators) so the
    /// first violation of an instance is always the same one.
    func check(_ instance: JSON, at path: inout InstancePath, into report: inout Report) {
        if let types, !types.contains(where: { $0.accepts(instance) }) {
            report.add("expected \(alternatives(types.map(\.rawValue))), found \(instance.kindName)", at: path)
        }
        if let allowedValues, !allowedValues.contains(instance) {
            report.add("must be one of \(JSON.array(allowedValues).serialized)", at: path)
        }
        if let constant, constant != instance {
            report.add("must be \(constant.serialized)", at: path)
        }
        switch instance {
        case .number(let number): checkNumber(number, at: path, into: &report)
        case .string(let text): checkString(text, at: path, into: &report)
        case .array(let elements): checkArray(elements, at: &path, into: &report)
        case .object(let members): checkObject(members, at: &path, into: &report)
        default: break
        }
        checkApplicators(instance, at: &path, into: &report)
    }

    private func checkNumber(_ number: Double, at path: InstancePath, into report: inout Report) {
        if let minimum, number < minimum { report.add("must be ≥ \(format(minimum))", at: path) }
        if let maximum, number > maximum { report.add("must be ≤ \(format(maximum))", at: path) }
        if let exclusiveMinimum, number <= exclusiveMinimum {
            report.add("must be > \(format(exclusiveMinimum))", at: path)
        }
        if let exclusiveMaximum, number >= exclusiveMaximum {
            report.add("must be < \(format(exclusiveMaximum))", at: path)
        }
        if let multipleOf, !isMultiple(number, of: multipleOf) {
            report.add("must be a multiple of \(format(multipleOf))", at: path)
        }
    }

    private func checkString(_ text: String, at path: InstancePath, into report: inout Report) {
        if minLength != nil || maxLength != nil {
            // JSON Schema counts characters as code points, which are Unicode scalars here.
            let length = text.unicodeScalars.count
            if let minLength, length < minLength {
                report.add("must be at least \(counted(minLength, "character", "characters")) long", at: path)
            }
            if let maxLength, length > maxLength {
                report.add("must be at most \(counted(maxLength, "character", "characters")) long", at: path)
            }
        }
        if let pattern, !pattern.matches(text) {
            report.add("must match pattern \(pattern.source)", at: path)
        }
    }

    private func checkArray(_ elements: [JSON], at path: inout InstancePath, into report: inout Report) {
        if let minItems, elements.count < minItems {
            report.add("must have at least \(counted(minItems, "item", "items"))", at: path)
        }
        if let maxItems, elements.count > maxItems {
            report.add("must have at most \(counted(maxItems, "item", "items"))", at: path)
        }
        if uniqueItems {
            // JSON is Hashable with the same equality as `==`, so one pass finds the first repeated value.
            var firstIndex: [JSON: Int] = [:]
            for (index, element) in elements.enumerated() {
                if let earlier = firstIndex.updateValue(index, forKey: element) {
                    report.add("must not contain duplicates: items \(earlier) and \(index) are equal", at: path)
                    break
                }
            }
        }
        guard checksElements else { return }
        for (index, element) in elements.enumerated() {
            if report.isDone { return }
            let isPrefix = index < prefixItems.count
            guard let schema = isPrefix ? prefixItems[index] : items else { return }
            if !isPrefix && schema.rejectsAll {
                // `items: false` after `prefixItems` is a length limit; one clear message beats one per extra item.
                report.add("must have at most \(counted(prefixItems.count, "item", "items"))", at: path)
                return
            }
            path.steps.append(.index(index))
            schema.check(element, at: &path, into: &report)
            path.steps.removeLast()
        }
    }

    private func checkObject(_ members: [String: JSON], at path: inout InstancePath, into report: inout Report) {
        if let minProperties, members.count < minProperties {
            report.add("must have at least \(counted(minProperties, "property", "properties"))", at: path)
        }
        if let maxProperties, members.count > maxProperties {
            report.add("must have at most \(counted(maxProperties, "property", "properties"))", at: path)
        }
        for name in required where members[name] == nil {
            report.add("missing required property \(quoted(name))", at: path)
        }
        guard checksMembers else { return }
        for name in members.keys.sorted(by: utf8Order) {
            if report.isDone { return }
            let value = members[name]!
            var isNamed = false
            if let schema = properties[name] {
                isNamed = true
                checkMember(name, value, against: schema, at: &path, into: &report)
            }
            for entry in patternProperties where entry.pattern.matches(name) {
                isNamed = true
                checkMember(name, value, against: entry.schema, at: &path, into: &report)
            }
            if !isNamed, let additionalProperties {
                checkMember(name, value, against: additionalProperties, at: &path, into: &report)
            }
        }
    }

    private func checkMember(
        _ name: String,
        _ value: JSON,
        against schema: Node,
        at path: inout InstancePath,
        into report: inout Report
    ) {
        if schema.rejectsAll {
            // A forbidden member is a fault of the object, like a missing one, so it is reported at the object.
            report.add("property \(quoted(name)) is not allowed", at: path)
            return
        }
        path.steps.append(.member(name))
        schema.check(value, at: &path, into: &report)
        path.steps.removeLast()
    }

    private func checkApplicators(_ instance: JSON, at path: inout InstancePath, into report: inout Report) {
        for schema in allOf {
            if report.isDone { return }
            schema.check(instance, at: &path, into: &report)
        }
        if !anyOf.isEmpty {
            var matched = false
            for schema in anyOf where schema.accepts(instance, at: &path) {
                matched = true
                break
            }
            if !matched { report.add("must match at least one schema in anyOf", at: path) }
        }
        if !oneOf.isEmpty {
            var matches: [Int] = []
            for (index, schema) in oneOf.enumerated() where schema.accepts(instance, at: &path) {
                matches.append(index)
            }
            if matches.isEmpty {
                report.add("must match exactly one schema in oneOf, matches none", at: path)
            } else if matches.count > 1 {
                let indices = alternatives(matches.map(String.init), joinedBy: "and")
                report.add("must match exactly one schema in oneOf, matches schemas \(indices)", at: path)
            }
        }
        if let negated, negated.accepts(instance, at: &path) {
            report.add("must not match the schema in not", at: path)
        }
    }
}

// MARK: - Reporting

/// Where a violation is, as steps from the root; rendered to text only when a violation is reported.
private struct InstancePath {
    enum Step {
        case member(String)
        case index(Int)
    }

    var steps: [Step] = []

    var description: String {
        var text = "$"
        for step in steps {
            switch step {
            case .member(let name) where isIdentifier(name): text += "." + name
            case .member(let name): text += "[" + quoted(name) + "]"
            case .index(let index): text += "[\(index)]"
            }
        }
        return text
    }
}

private struct Report {
    /// When set, only the first violation is kept, and checking stops as soon as it is found.
    let firstOnly: Bool
    var violations: [(path: String, reason: String)] = []

    var isDone: Bool { firstOnly && !violations.isEmpty }

    mutating func add(_ reason: String, at path: InstancePath) {
        guard !isDone else { return }
        violations.append((path: path.description, reason: reason))
    }
}

// MARK: - Helpers

extension JSON {
    /// The JSON type, without telling integers apart: what a reader expects after "found".
    fileprivate var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// A scalar as written, anything bigger by its kind, so error messages stay short.
    fileprivate var shortDescription: String {
        switch self {
        case .null, .bool, .number, .string: serialized
        case .array, .object: kindName
        }
    }

    fileprivate var isSchemaShaped: Bool {
        switch self {
        case .bool, .object: true
        default: false
        }
    }
}

/// The order of the canonical serialization, so reports follow the order a reader sees the members in.
private func utf8Order(_ lhs: String, _ rhs: String) -> Bool {
    lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
}

private func isIdentifier(_ name: String) -> Bool {
    var bytes = name.utf8.makeIterator()
    guard let first = bytes.next(), first == UInt8(ascii: "_") || isLetter(first) else { return false }
    while let byte = bytes.next() {
        guard byte == UInt8(ascii: "_") || isLetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        else { return false }
    }
    return true
}

private func isLetter(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
}

/// JSON Pointer escaping (RFC 6901), for member names in schema paths.
private func escapePointerToken(_ token: String) -> String {
    token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
}

private func quoted(_ text: String) -> String {
    JSON.string(text).serialized
}

private func format(_ number: Double) -> String {
    JSON.number(number).serialized
}

private func counted(_ count: Int, _ singular: String, _ plural: String) -> String {
    "\(count) \(count == 1 ? singular : plural)"
}

/// "a", "a or b", "a, b or c".
private func alternatives(_ words: [String], joinedBy conjunction: String = "or") -> String {
    guard words.count > 1 else { return words.first ?? "" }
    return words.dropLast().joined(separator: ", ") + " \(conjunction) " + words.last!
}

private func isMultiple(_ number: Double, of divisor: Double) -> Bool {
    if number.rounded() == number && divisor.rounded() == divisor {
        return number.truncatingRemainder(dividingBy: divisor) == 0
    }
    // Decimal fractions are inexact in binary (0.3 / 0.1 is 2.9999999999999996), so allow for rounding error.
    let quotient = number / divisor
    guard quotient.isFinite else { return false }
    return abs(quotient - quotient.rounded()) <= 1e-9 * max(1, abs(quotient))
}
