import Testing

@testable import ThreadsDB

@Suite struct JSONTests {
    @Test func roundTrip() throws {
        let text = #"{"b":[1,2.5,"x\n\u00e9",true,null],"a":{"z":-3e2}}"#
        let value = try JSON(parsing: text)
        #expect(value.serialized == #"{"a":{"z":-300},"b":[1,2.5,"x\né",true,null]}"#)
        #expect(try JSON(parsing: value.serialized) == value)
        #expect(value.value(at: FieldPath("b.2")) == "x\né")
    }

    @Test func errorsNamePlace() {
        #expect(throws: DBError.badJSON(where: "line 2, column 5", reason: "expected ',' or '}'")) {
            try JSON(parsing: "{\"a\":\n  1 2}")
        }
        #expect(throws: (any Error).self) { try JSON(parsing: #"{"a":1,"a":2}"#) }
        #expect(throws: (any Error).self) { try JSON(parsing: "[1,]") }
        #expect(throws: (any Error).self) { try JSON(parsing: "01") }
        #expect(throws: (any Error).self) { try JSON(parsing: "1e999") }
        #expect(throws: (any Error).self) { try JSON(parsing: String(repeating: "[", count: 300)) }
    }
}
