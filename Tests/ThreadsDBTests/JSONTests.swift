import Testing
import ThreadsTestKit

@testable import ThreadsDB

@Suite(.timeLimit(.minutes(5))) struct JSONTests {
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
    /// Documents come from clients and, inside events, from other writers: mangled ones give a
    /// typed error, and whatever parses serializes to text that parses to the same value.
    @Test func mangledDocumentsFailCleanlyOrRoundTrip() throws {
        var rng = SeededGenerator(seed: 54)
        let samples = [
            #"{"_id":"a1","name":"Ada","tags":["x","y\u00e9"],"n":-12.5e3,"ok":true,"nil":null}"#,
            #"[{"a":{"b":[1,2,{"c":"\ud83d\ude00"}]}},0.25,"tab\t",false]"#,
        ].map { Array($0.utf8) }
        var parsed = 0
        for round in 0..<6000 {
            let value: JSON
            do {
                value = try JSON(parsing: rng.mangled(samples[round % samples.count]))
            } catch {
                // typed throws: a DBError is the only other outcome
                continue
            }
            parsed += 1
            #expect(try JSON(parsing: value.serialized) == value)
        }
        #expect(parsed > 0)
    }
}

extension JSONTests {
    /// Strings go through DagCBOR's scanner, as DAG-JSON's do: the same strings are refused, with
    /// the scanner's reason at the line and column it names.
    @Test func stringsAreReadByTheSharedScanner() throws {
        #expect(try JSON(parsing: #"["\uD83D\uDE00\t"]"#) == .array([.string("😀\t")]))
        #expect(throws: DBError.badJSON(where: "line 1, column 8", reason: "unpaired surrogate \\ude00")) {
            try JSON(parsing: #"["a", "\uDE00"]"#)
        }
        #expect(throws: DBError.badJSON(where: "line 1, column 2", reason: "input ends inside a string")) {
            try JSON(parsing: #"["abc"#)
        }
    }
}
