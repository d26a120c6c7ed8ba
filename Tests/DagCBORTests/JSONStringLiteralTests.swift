import DagCBOR
import Testing

/// The JSON string scanner that DAG-JSON and ThreadsDB's JSON parser share.
@Suite struct JSONStringLiteralTests {
    /// Reads the literal at the start of `text`; returns the string and where reading stopped.
    static func read(_ text: String) throws(JSONStringLiteral.Failure) -> (String, Int) {
        var offset = 0
        let string = try JSONStringLiteral.read(Array(text.utf8), at: &offset)
        return (string, offset)
    }

    @Test func decodesEscapesAndStopsPastTheClosingQuote() throws {
        let (text, end) = try Self.read(#""a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D\uDE00z", 1"#)
        #expect(text == "a\"b\\c/d\u{8}\u{c}\n\r\té😀z")
        #expect(end == 41)
        #expect(try Self.read(#""""#) == ("", 2))
        #expect(try Self.read("\"héllo\"") == ("héllo", 8))
    }

    @Test(arguments: [
        (#""abc"#, true, 0),
        (#""ab\"#, true, 0),
        (#""\u12"#, true, 3),
        (#""\uD83D""#, false, 1),
        (#""\uD83D\u0041""#, false, 1),
        (#""\uDE00""#, false, 1),
        (#""\x""#, false, 1),
        (#""\u12G4""#, false, 5),
        ("\"a\u{1}b\"", false, 2),
    ])
    func refusesWithAReasonAndAPlace(text: String, truncated: Bool, position: Int) {
        #expect {
            _ = try Self.read(text)
        } throws: { error in
            guard let failure = error as? JSONStringLiteral.Failure else { return false }
            return failure.truncated == truncated && failure.position == position && !failure.reason.isEmpty
        }
    }

    @Test func refusesInvalidUTF8() {
        var bytes = Array("\"ab\"".utf8)
        bytes.insert(0xff, at: 2)
        var offset = 0
        #expect {
            try JSONStringLiteral.read(bytes, at: &offset)
        } throws: { error in
            guard let failure = error as? JSONStringLiteral.Failure else { return false }
            return !failure.truncated && failure.position == 0 && failure.reason == "string is not valid UTF-8"
        }
    }

    /// DAG-JSON refuses what the scanner refuses, as a typed error at the scanner's place.
    @Test func dagJSONReportsTheScannersFailure() {
        #expect {
            _ = try DagJSON.decode(Array(#"["ok", "\uDE00"]"#.utf8))
        } throws: { error in
            "\(error)".contains("unpaired surrogate")
        }
    }
}
