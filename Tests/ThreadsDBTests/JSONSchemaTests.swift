import Testing

@testable import ThreadsDB

/// Every violation of `instance` against `schema`, as "path: reason", so one comparison checks order and text.
private func violations(_ schema: String, _ instance: String) throws -> [String] {
    try JSONSchema(JSON(parsing: schema)).violations(of: JSON(parsing: instance)).map { "\($0.path): \($0.reason)" }
}

/// Malformed schemas, with the exact message each must give: it names the keyword and where it is.
private let badSchemas: [(schema: String, message: String)] = [
    (#"5"#, #"a schema must be an object or a boolean, found number (at #)"#),
    (#"{"type": 5}"#, #""type" must be a type name or a non-empty array of type names, found 5 (at #/type)"#),
    (#"{"type": []}"#, #""type" must be a type name or a non-empty array of type names, found array (at #/type)"#),
    (
        #"{"type": ["string", 1]}"#,
        #""type" must be a type name or a non-empty array of type names, found 1 (at #/type/1)"#
    ),
    (
        #"{"type": "strin"}"#,
        #""type" must name null, boolean, object, array, number, string or integer, found "strin" (at #/type)"#
    ),
    (#"{"enum": "a"}"#, #""enum" must be an array, found "a" (at #/enum)"#),
    (#"{"minimum": "x"}"#, #""minimum" must be a number, found "x" (at #/minimum)"#),
    (#"{"maximum": null}"#, #""maximum" must be a number, found null (at #/maximum)"#),
    (#"{"exclusiveMinimum": true}"#, #""exclusiveMinimum" must be a number, found true (at #/exclusiveMinimum)"#),
    (#"{"exclusiveMaximum": [1]}"#, #""exclusiveMaximum" must be a number, found array (at #/exclusiveMaximum)"#),
    (#"{"multipleOf": 0}"#, #""multipleOf" must be a number greater than 0, found 0 (at #/multipleOf)"#),
    (#"{"multipleOf": "2"}"#, #""multipleOf" must be a number, found "2" (at #/multipleOf)"#),
    (#"{"minLength": -1}"#, #""minLength" must be a non-negative integer, found -1 (at #/minLength)"#),
    (#"{"maxLength": 2.5}"#, #""maxLength" must be a non-negative integer, found 2.5 (at #/maxLength)"#),
    (#"{"pattern": 5}"#, #""pattern" must be a string, found 5 (at #/pattern)"#),
    (#"{"pattern": "[a-"}"#, #""pattern" must be a valid regular expression, found "[a-" (at #/pattern)"#),
    (#"{"items": 5}"#, #""items" must be a schema (an object or a boolean), found 5 (at #/items)"#),
    (#"{"items": [{}]}"#, #""items" must be a schema (an object or a boolean), found array (at #/items)"#),
    (#"{"prefixItems": []}"#, #""prefixItems" must be a non-empty array of schemas, found array (at #/prefixItems)"#),
    (
        #"{"prefixItems": [{}, 1]}"#,
        #""prefixItems" must be a non-empty array of schemas, found 1 (at #/prefixItems/1)"#
    ),
    (#"{"minItems": "3"}"#, #""minItems" must be a non-negative integer, found "3" (at #/minItems)"#),
    (#"{"maxItems": false}"#, #""maxItems" must be a non-negative integer, found false (at #/maxItems)"#),
    (#"{"uniqueItems": "yes"}"#, #""uniqueItems" must be a boolean, found "yes" (at #/uniqueItems)"#),
    (#"{"required": "name"}"#, #""required" must be an array of strings, found "name" (at #/required)"#),
    (#"{"required": ["a", 1]}"#, #""required" must be an array of strings, found 1 (at #/required/1)"#),
    (#"{"properties": []}"#, #""properties" must be an object of schemas, found array (at #/properties)"#),
    (#"{"properties": {"a/b": 3}}"#, #""properties" must be an object of schemas, found 3 (at #/properties/a~1b)"#),
    (
        #"{"patternProperties": {"(": {}}}"#,
        #""patternProperties" keys must be valid regular expressions, found "(" (at #/patternProperties/()"#
    ),
    (
        #"{"additionalProperties": "no"}"#,
        #""additionalProperties" must be a schema (an object or a boolean), found "no" (at #/additionalProperties)"#
    ),
    (#"{"minProperties": 1.5}"#, #""minProperties" must be a non-negative integer, found 1.5 (at #/minProperties)"#),
    (#"{"maxProperties": {}}"#, #""maxProperties" must be a non-negative integer, found object (at #/maxProperties)"#),
    (#"{"allOf": {}}"#, #""allOf" must be a non-empty array of schemas, found object (at #/allOf)"#),
    (#"{"anyOf": []}"#, #""anyOf" must be a non-empty array of schemas, found array (at #/anyOf)"#),
    (#"{"oneOf": [3]}"#, #""oneOf" must be a non-empty array of schemas, found 3 (at #/oneOf/0)"#),
    (#"{"not": 3}"#, #""not" must be a schema (an object or a boolean), found 3 (at #/not)"#),
    (
        #"{"items": {"properties": {"x": {"minimum": "0"}}}}"#,
        #""minimum" must be a number, found "0" (at #/items/properties/x/minimum)"#
    ),
    (
        #"{"allOf": [true, {"pattern": "("}]}"#,
        #""pattern" must be a valid regular expression, found "(" (at #/allOf/1/pattern)"#
    ),
]

@Suite(.timeLimit(.minutes(5))) struct JSONSchemaTests {
    // MARK: type, enum, const

    @Test func typeAcceptsItsOwnKindAndRejectsOthers() throws {
        #expect(try violations(#"{"type": "null"}"#, "null") == [])
        #expect(try violations(#"{"type": "null"}"#, "0") == ["$: expected null, found number"])
        #expect(try violations(#"{"type": "boolean"}"#, "false") == [])
        #expect(try violations(#"{"type": "boolean"}"#, "null") == ["$: expected boolean, found null"])
        #expect(try violations(#"{"type": "object"}"#, "{}") == [])
        #expect(try violations(#"{"type": "object"}"#, "[]") == ["$: expected object, found array"])
        #expect(try violations(#"{"type": "array"}"#, "[]") == [])
        #expect(try violations(#"{"type": "array"}"#, "{}") == ["$: expected array, found object"])
        #expect(try violations(#"{"type": "string"}"#, #""s""#) == [])
        #expect(try violations(#"{"type": "string"}"#, "5") == ["$: expected string, found number"])
        #expect(try violations(#"{"type": "number"}"#, "2.5") == [])
        #expect(try violations(#"{"type": "number"}"#, "-7") == [])
        #expect(try violations(#"{"type": "number"}"#, #""3""#) == ["$: expected number, found string"])
    }

    @Test func integerMeansAWholeNumber() throws {
        #expect(try violations(#"{"type": "integer"}"#, "3") == [])
        #expect(try violations(#"{"type": "integer"}"#, "3.0") == [])
        #expect(try violations(#"{"type": "integer"}"#, "-1e20") == [])
        #expect(try violations(#"{"type": "integer"}"#, "3.5") == ["$: expected integer, found number"])
        #expect(try violations(#"{"type": "integer"}"#, "true") == ["$: expected integer, found boolean"])
    }

    @Test func typeListAcceptsAnyOfItsNames() throws {
        let schema = #"{"type": ["string", "null"]}"#
        #expect(try violations(schema, #""x""#) == [])
        #expect(try violations(schema, "null") == [])
        #expect(try violations(schema, "1") == ["$: expected string or null, found number"])
        #expect(
            try violations(#"{"type": ["object", "array", "null"]}"#, "true")
                == ["$: expected object, array or null, found boolean"]
        )
    }

    @Test func enumUsesDeepEquality() throws {
        let schema = #"{"enum": ["a", 1, {"k": [1, 2], "j": null}, null]}"#
        #expect(try violations(schema, #""a""#) == [])
        #expect(try violations(schema, "1.0") == [])
        #expect(try violations(schema, #"{"j": null, "k": [1, 2]}"#) == [])
        #expect(try violations(schema, "null") == [])
        let reason = #"must be one of ["a",1,{"j":null,"k":[1,2]},null]"#
        #expect(try violations(schema, #"{"j": null, "k": [2, 1]}"#) == ["$: \(reason)"])
        #expect(try violations(schema, #""b""#) == ["$: \(reason)"])
        #expect(try violations(#"{"enum": ["a", "b"]}"#, #""c""#) == [#"$: must be one of ["a","b"]"#])
    }

    @Test func constUsesDeepEquality() throws {
        let schema = #"{"const": {"a": 1, "b": [true]}}"#
        #expect(try violations(schema, #"{"b": [true], "a": 1.0}"#) == [])
        #expect(try violations(schema, #"{"a": 1}"#) == [#"$: must be {"a":1,"b":[true]}"#])
        #expect(try violations(#"{"const": null}"#, "null") == [])
        #expect(try violations(#"{"const": null}"#, "false") == ["$: must be null"])
    }

    // MARK: numbers

    @Test func inclusiveBounds() throws {
        let schema = #"{"minimum": 0, "maximum": 120}"#
        #expect(try violations(schema, "0") == [])
        #expect(try violations(schema, "120") == [])
        #expect(try violations(schema, "-0.5") == ["$: must be ≥ 0"])
        #expect(try violations(schema, "120.5") == ["$: must be ≤ 120"])
    }

    @Test func exclusiveBounds() throws {
        let schema = #"{"exclusiveMinimum": 0, "exclusiveMaximum": 2.5}"#
        #expect(try violations(schema, "0.001") == [])
        #expect(try violations(schema, "2.49") == [])
        #expect(try violations(schema, "0") == ["$: must be > 0"])
        #expect(try violations(schema, "2.5") == ["$: must be < 2.5"])
    }

    @Test func multipleOf() throws {
        #expect(try violations(#"{"multipleOf": 3}"#, "9") == [])
        #expect(try violations(#"{"multipleOf": 3}"#, "-6") == [])
        #expect(try violations(#"{"multipleOf": 3}"#, "10") == ["$: must be a multiple of 3"])
        // 0.3 / 0.1 is not exactly 3 in binary floating point; it must still count as a multiple.
        #expect(try violations(#"{"multipleOf": 0.1}"#, "0.3") == [])
        #expect(try violations(#"{"multipleOf": 0.01}"#, "19.99") == [])
        #expect(try violations(#"{"multipleOf": 0.1}"#, "0.35") == ["$: must be a multiple of 0.1"])
    }

    @Test func numberKeywordsIgnoreOtherKinds() throws {
        let schema = #"{"minimum": 5, "exclusiveMaximum": 0, "multipleOf": 7}"#
        #expect(try violations(schema, #""abc""#) == [])
        #expect(try violations(schema, "[1]") == [])
        #expect(try violations(schema, "null") == [])
    }

    // MARK: strings

    @Test func lengthCountsUnicodeScalars() throws {
        #expect(try violations(#"{"minLength": 3}"#, #""abc""#) == [])
        #expect(try violations(#"{"minLength": 3}"#, #""ab""#) == ["$: must be at least 3 characters long"])
        #expect(try violations(#"{"maxLength": 3}"#, #""abcd""#) == ["$: must be at most 3 characters long"])
        // One scalar each, though the emoji is two UTF-16 units and é is two UTF-8 bytes.
        #expect(try violations(#"{"maxLength": 1}"#, #""🙂""#) == [])
        #expect(try violations(#"{"maxLength": 1}"#, #""\u00e9""#) == [])
        // e + combining accent is one Character but two scalars.
        #expect(try violations(#"{"maxLength": 1}"#, #""e\u0301""#) == ["$: must be at most 1 character long"])
        #expect(try violations(#"{"minLength": 5}"#, "12") == [])
    }

    @Test func patternSearchesUnlessAnchored() throws {
        #expect(try violations(#"{"pattern": "^[a-z]+$"}"#, #""abc""#) == [])
        #expect(try violations(#"{"pattern": "^[a-z]+$"}"#, #""abC""#) == ["$: must match pattern ^[a-z]+$"])
        #expect(try violations(#"{"pattern": "b+"}"#, #""abba""#) == [])
        #expect(try violations(#"{"pattern": "b+"}"#, #""ac""#) == ["$: must match pattern b+"])
        #expect(try violations(#"{"pattern": "^.x$"}"#, #""🙂x""#) == [])
        #expect(try violations(#"{"pattern": "^a"}"#, "7") == [])
    }

    // MARK: arrays

    @Test func itemsAppliesToEveryElement() throws {
        let schema = #"{"items": {"type": "string"}}"#
        #expect(try violations(schema, #"["a", "b"]"#) == [])
        #expect(try violations(schema, "[]") == [])
        #expect(
            try violations(schema, #"["a", 1, "c", null]"#)
                == ["$[1]: expected string, found number", "$[3]: expected string, found null"]
        )
    }

    @Test func prefixItemsThenItems() throws {
        let tuple = #"{"prefixItems": [{"type": "string"}, {"type": "number"}], "items": false}"#
        #expect(try violations(tuple, #"["a", 1]"#) == [])
        #expect(try violations(tuple, #"["a"]"#) == [])
        #expect(
            try violations(tuple, #"[1, "a"]"#) == [
                "$[0]: expected string, found number", "$[1]: expected number, found string",
            ]
        )
        #expect(try violations(tuple, #"["a", 1, true, 2]"#) == ["$: must have at most 2 items"])
        let rest = #"{"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}"#
        #expect(try violations(rest, #"["a", 1, 2]"#) == [])
        #expect(try violations(rest, #"["a", 1, 2.5]"#) == ["$[2]: expected integer, found number"])
    }

    @Test func itemCounts() throws {
        let schema = #"{"minItems": 1, "maxItems": 2}"#
        #expect(try violations(schema, "[1]") == [])
        #expect(try violations(schema, "[1, 2]") == [])
        #expect(try violations(schema, "[]") == ["$: must have at least 1 item"])
        #expect(try violations(schema, "[1, 2, 3]") == ["$: must have at most 2 items"])
    }

    @Test func uniqueItemsComparesDeeply() throws {
        let schema = #"{"uniqueItems": true}"#
        #expect(try violations(schema, #"[1, "1", {"a": 1}, {"a": 2}, [1, 2], [2, 1]]"#) == [])
        #expect(
            try violations(schema, #"[1, "1", 1.0]"#) == ["$: must not contain duplicates: items 0 and 2 are equal"]
        )
        #expect(
            try violations(schema, #"[{"a": 1, "b": 2}, {"b": 2, "a": 1}]"#)
                == ["$: must not contain duplicates: items 0 and 1 are equal"]
        )
        #expect(try violations(#"{"uniqueItems": false}"#, "[1, 1]") == [])
    }

    // MARK: objects

    @Test func nestedPaths() throws {
        let schema = #"""
            {"properties": {
                "address": {"properties": {"city": {"type": "string"}}, "required": ["city"]},
                "tags": {"items": {"type": "string"}}
            }}
            """#
        #expect(
            try violations(schema, #"{"address": {"city": 5}}"#) == ["$.address.city: expected string, found number"]
        )
        #expect(try violations(schema, #"{"address": {}}"#) == [#"$.address: missing required property "city""#])
        #expect(try violations(schema, #"{"tags": ["a", "b", 3]}"#) == ["$.tags[2]: expected string, found number"])
    }

    @Test func oddMemberNamesAreBracketed() throws {
        let schema = #"{"additionalProperties": {"type": "string"}}"#
        #expect(
            try violations(schema, #"{"odd key": 1, "2x": 1, "_ok9": 1, "a\"b": 1, "é": 1}"#) == [
                #"$["2x"]: expected string, found number"#,
                "$._ok9: expected string, found number",
                #"$["a\"b"]: expected string, found number"#,
                #"$["odd key"]: expected string, found number"#,
                #"$["é"]: expected string, found number"#,
            ]
        )
    }

    @Test func requiredNamesTheMissingMember() throws {
        let schema = #"{"required": ["name", "age"]}"#
        #expect(try violations(schema, #"{"name": "a", "age": 3}"#) == [])
        #expect(
            try violations(schema, "{}")
                == [#"$: missing required property "age""#, #"$: missing required property "name""#]
        )
        #expect(try violations(schema, "[]") == [])
    }

    @Test func additionalPropertiesFalseAllowsOnlyNamedMembers() throws {
        let schema = #"{"properties": {"name": {}}, "additionalProperties": false}"#
        #expect(try violations(schema, #"{"name": "a"}"#) == [])
        #expect(try violations(schema, #"{"name": "a", "x": 1}"#) == [#"$: property "x" is not allowed"#])
    }

    @Test func additionalPropertiesSchemaChecksOtherMembers() throws {
        let schema = #"{"properties": {"name": {"type": "string"}}, "additionalProperties": {"type": "number"}}"#
        #expect(try violations(schema, #"{"name": "a", "x": 1}"#) == [])
        #expect(try violations(schema, #"{"name": "a", "x": "y"}"#) == ["$.x: expected number, found string"])
    }

    @Test func patternPropertiesCountAsNamed() throws {
        let schema = #"{"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}"#
        #expect(try violations(schema, #"{"x-a": "s"}"#) == [])
        #expect(try violations(schema, #"{"x-a": 1}"#) == [#"$["x-a"]: expected string, found number"#])
        #expect(try violations(schema, #"{"y": 1}"#) == [#"$: property "y" is not allowed"#])
    }

    @Test func propertyCounts() throws {
        let schema = #"{"minProperties": 1, "maxProperties": 2}"#
        #expect(try violations(schema, #"{"a": 1}"#) == [])
        #expect(try violations(schema, "{}") == ["$: must have at least 1 property"])
        #expect(try violations(schema, #"{"a": 1, "b": 2, "c": 3}"#) == ["$: must have at most 2 properties"])
    }

    // MARK: applicators and boolean schemas

    @Test func allOfNeedsEvery() throws {
        let schema = #"{"allOf": [{"type": "number"}, {"minimum": 5}]}"#
        #expect(try violations(schema, "7") == [])
        #expect(try violations(schema, "3") == ["$: must be ≥ 5"])
        #expect(try violations(schema, #""7""#) == ["$: expected number, found string"])
    }

    @Test func anyOfNeedsOne() throws {
        let schema = #"{"anyOf": [{"type": "string"}, {"type": "null"}]}"#
        #expect(try violations(schema, #""x""#) == [])
        #expect(try violations(schema, "null") == [])
        #expect(try violations(schema, "1") == ["$: must match at least one schema in anyOf"])
    }

    @Test func oneOfNeedsExactlyOne() throws {
        let schema = #"{"oneOf": [{"type": "integer"}, {"type": "number"}, {"type": "boolean"}]}"#
        #expect(try violations(schema, "2.5") == [])
        #expect(try violations(schema, "true") == [])
        #expect(try violations(schema, "2") == ["$: must match exactly one schema in oneOf, matches schemas 0 and 1"])
        #expect(try violations(schema, #""x""#) == ["$: must match exactly one schema in oneOf, matches none"])
    }

    @Test func notInverts() throws {
        #expect(try violations(#"{"not": {"type": "string"}}"#, "1") == [])
        #expect(try violations(#"{"not": {"type": "string"}}"#, #""x""#) == ["$: must not match the schema in not"])
    }

    @Test func booleanSchemas() throws {
        for instance in ["null", "1", #""s""#, "[1]", #"{"a": {}}"#] {
            #expect(try violations("true", instance) == [])
            #expect(try violations("{}", instance) == [])
            #expect(try violations("false", instance) == ["$: no value is allowed here"])
        }
        #expect(try violations(#"{"properties": {"a": false}}"#, #"{"b": 1}"#) == [])
        #expect(try violations(#"{"properties": {"a": false}}"#, #"{"a": 1}"#) == [#"$: property "a" is not allowed"#])
        #expect(try violations(#"{"items": false}"#, "[]") == [])
        #expect(try violations(#"{"items": false}"#, "[1]") == ["$: must have at most 0 items"])
        #expect(
            try violations(#"{"properties": {"a": {"not": true}}}"#, #"{"a": 1}"#) == [
                "$.a: must not match the schema in not"
            ]
        )
        #expect(try violations(#"{"allOf": [true, false]}"#, "1") == ["$: no value is allowed here"])
    }

    // MARK: order

    @Test func violationsComeInAFixedOrder() throws {
        // Keywords in a fixed order at each place; members sorted by their UTF-8 bytes; elements by index.
        let schema = #"""
            {
                "type": "object",
                "minProperties": 9,
                "required": ["zeta", "alpha"],
                "properties": {
                    "b": {"type": "string", "enum": ["x"]},
                    "a": {"type": "string"},
                    "B": {"items": {"type": "string"}}
                }
            }
            """#
        let instance = #"{"b": 1, "a": 2, "B": [0, "", 1, "", 2, "", 3, "", 4, "", 5]}"#
        #expect(
            try violations(schema, instance) == [
                "$: must have at least 9 properties",
                #"$: missing required property "alpha""#,
                #"$: missing required property "zeta""#,
                "$.B[0]: expected string, found number",
                "$.B[2]: expected string, found number",
                "$.B[4]: expected string, found number",
                "$.B[6]: expected string, found number",
                "$.B[8]: expected string, found number",
                "$.B[10]: expected string, found number",
                "$.a: expected string, found number",
                "$.b: expected string, found number",
                #"$.b: must be one of ["x"]"#,
            ]
        )
    }

    @Test func validateThrowsTheFirstViolation() throws {
        let schema = try JSONSchema(JSON(parsing: #"{"properties": {"b": {"minimum": 0}, "a": {"maxLength": 2}}}"#))
        #expect(
            throws: DBError.schemaViolation(
                collection: "things",
                path: "$.a",
                reason: "must be at most 2 characters long"
            )
        ) {
            try schema.validate(["a": "long", "b": -1], collection: "things")
        }
        #expect(throws: DBError.schemaViolation(collection: "things", path: "$.b", reason: "must be ≥ 0")) {
            try schema.validate(["a": "ok", "b": -1], collection: "things")
        }
        try schema.validate(["a": "ok", "b": 1], collection: "things")
    }

    // MARK: malformed schemas

    @Test(arguments: badSchemas)
    func malformedKeywordsAreRejected(schema: String, message: String) throws {
        let json = try JSON(parsing: schema)
        #expect(throws: DBError.badSchema(message)) { try JSONSchema(json) }
    }

    @Test func unknownKeywordsAreIgnored() throws {
        let schema = #"""
            {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": 7, "title": [], "description": null,
             "default": {}, "examples": 1, "format": "email", "x-custom": {"type": 5}}
            """#
        #expect(try violations(schema, #""not an email""#) == [])
        #expect(try violations(schema, "[1, 2]") == [])
    }

    @Test func equalityComparesTheJSON() throws {
        let one = try JSONSchema(JSON(parsing: #"{"type": "string", "minLength": 1}"#))
        let same = try JSONSchema(JSON(parsing: #"{"minLength": 1.0, "type": "string"}"#))
        let other = try JSONSchema(JSON(parsing: #"{"type": "string", "minLength": 2}"#))
        #expect(one == same)
        #expect(one != other)
        #expect(one.json == ["type": "string", "minLength": 1])
    }

    // MARK: a realistic schema

    private static let person = #"""
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Person",
            "type": "object",
            "required": ["_id", "name", "age"],
            "properties": {
                "_id": {"type": "string", "minLength": 1},
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "age": {"type": "integer", "minimum": 0, "maximum": 150},
                "email": {"type": "string", "format": "email", "pattern": "^[^@\\s]+@[^@\\s]+$"},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true, "maxItems": 5},
                "status": {"enum": ["active", "inactive"]},
                "address": {
                    "type": "object",
                    "required": ["city"],
                    "properties": {
                        "city": {"type": "string"},
                        "zip": {"type": ["string", "null"], "pattern": "^[0-9]{5}$"}
                    },
                    "additionalProperties": false
                }
            },
            "additionalProperties": false
        }
        """#

    @Test func personSchema() throws {
        let valid = #"""
            {"_id": "p1", "name": "Ada", "age": 36, "email": "ada@example.org", "tags": ["math", "engines"],
             "status": "active", "address": {"city": "London", "zip": null}}
            """#
        #expect(try violations(Self.person, valid) == [])
        #expect(try violations(Self.person, #"{"_id": "p2", "name": "Bob", "age": 0}"#) == [])

        let invalid = #"""
            {"_id": "", "name": "Bob", "age": 36.5, "email": "bob at example.org", "tags": ["a", "a", 3],
             "status": "gone", "address": {"zip": "1234", "country": "UK"}, "nickname": "B"}
            """#
        #expect(
            try violations(Self.person, invalid) == [
                "$._id: must be at least 1 character long",
                #"$.address: missing required property "city""#,
                #"$.address: property "country" is not allowed"#,
                "$.address.zip: must match pattern ^[0-9]{5}$",
                "$.age: expected integer, found number",
                #"$.email: must match pattern ^[^@\s]+@[^@\s]+$"#,
                #"$: property "nickname" is not allowed"#,
                #"$.status: must be one of ["active","inactive"]"#,
                "$.tags: must not contain duplicates: items 0 and 1 are equal",
                "$.tags[2]: expected string, found number",
            ]
        )
        let schema = try JSONSchema(JSON(parsing: Self.person))
        #expect(
            throws: DBError.schemaViolation(
                collection: "people",
                path: "$",
                reason: #"missing required property "age""#
            )
        ) {
            try schema.validate(["_id": "p3", "name": "Cy"], collection: "people")
        }
    }

    @Test func validatesConcurrently() async throws {
        let schema = try JSONSchema(JSON(parsing: Self.person))
        let failures = await withTaskGroup(of: Int.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let email: JSON = index.isMultiple(of: 2) ? "a@b.c" : "nope"
                    return schema.violations(of: ["_id": "x", "name": "n", "age": 1, "email": email]).count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 32)
    }
}

@Suite(.timeLimit(.minutes(5))) struct JSONSchemaUnsupportedTests {
    @Test func keywordsThatWouldConstrainButAreNotImplementedAreRefused() {
        #expect(throws: DBError.badSchema("\"$ref\" is not supported (at #/properties/a/$ref)")) {
            try JSONSchema(["properties": ["a": ["$ref": "#/$defs/x"]]])
        }
        #expect(throws: DBError.self) { try JSONSchema(["if": true, "then": false]) }
    }
}
