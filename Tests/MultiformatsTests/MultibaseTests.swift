import Multiformats
import Testing
import ThreadsTestKit

/// The multiformats/multibase test suite (Tests/Fixtures/multibase).
@Suite struct MultibaseTests {
    struct Row {
        let base: String
        let encoded: String
    }

    /// Each CSV: a header `encoding, "<input>"`, then `base, "<encoded>"` rows.
    static func load(_ name: String) throws -> (input: [UInt8], rows: [Row]) {
        let lines = try Fixtures.lines("multibase/\(name).csv")
        func field(_ line: String) -> (String, String) {
            let comma = line.firstIndex(of: ",")!
            let key = String(line[..<comma]).trimmingCharacters(in: .whitespaces)
            var value = String(line[line.index(after: comma)...]).trimmingCharacters(in: .whitespaces)
            value = String(value.dropFirst().dropLast())  // quotes
            return (key, value)
        }
        let (_, header) = field(lines[0])
        // The header uses \x00 escapes for leading zero bytes.
        var input: [UInt8] = []
        var rest = Substring(header)
        while !rest.isEmpty {
            if rest.hasPrefix("\\x") {
                input.append(UInt8(rest.dropFirst(2).prefix(2), radix: 16)!)
                rest = rest.dropFirst(4)
            } else {
                input.append(contentsOf: Array(String(rest.first!).utf8))
                rest = rest.dropFirst()
            }
        }
        return (
            input,
            lines.dropFirst().map {
                let (k, v) = field($0)
                return Row(base: k, encoded: v)
            }
        )
    }

    @Test(arguments: ["basic", "leading_zero", "two_leading_zeros"])
    func encodesAndDecodesEverySupportedBase(file: String) throws {
        let (input, rows) = try Self.load(file)
        var tested = 0
        var skipped: [String] = []
        for row in rows {
            guard let base = Multibase(name: row.base) else {
                skipped.append(row.base)
                continue
            }
            #expect(Multibase.encode(input, as: base) == row.encoded, "\(file) \(row.base)")
            let decoded = try Multibase.decode(row.encoded)
            #expect(decoded.base == base)
            #expect(decoded.bytes == input, "\(file) \(row.base)")
            tested += 1
        }
        // All nine supported bases appear in each file; the rest are bases this project leaves out.
        #expect(tested == Multibase.allCases.count, "tested \(tested), skipped \(skipped)")
        #expect(Set(skipped).isDisjoint(with: Multibase.allCases.map(\.name)))
    }

    @Test func caseInsensitiveBasesDecodeMixedCase() throws {
        let (input, rows) = try Self.load("case_insensitivity")
        var tested = 0
        for row in rows {
            guard let base = Multibase(name: row.base) else { continue }
            let decoded = try Multibase.decode(row.encoded)
            #expect(decoded.base == base)
            #expect(decoded.bytes == input, "\(row.base) \(row.encoded)")
            tested += 1
        }
        #expect(tested >= 5)  // base16, base16upper, base32, base32upper, base36 (+ base36upper)
    }

    @Test func errorsSayWhereTheInputIsWrong() {
        #expect(throws: MultiformatsError.unknownMultibase(prefix: "q")) { try Multibase.decode("qabc") }
        #expect(throws: MultiformatsError.empty(what: "multibase")) { try Multibase.decode("") }
        #expect(throws: MultiformatsError.invalidCharacter(base: "base58btc", character: "0", offset: 3)) {
            try Multibase.decode("z12012")
        }
        #expect(throws: MultiformatsError.invalidCharacter(base: "base32", character: "1", offset: 2)) {
            try Multibase.decode("ba1")
        }
        #expect(throws: MultiformatsError.self) { try Multibase.decode("f123") }  // odd length
        #expect(throws: MultiformatsError.self) { try Multibase.decode("mYQ==") }  // padding in unpadded base64
        #expect(throws: MultiformatsError.self) { try Multibase.decode("bb") }  // impossible base32 length
        #expect(throws: MultiformatsError.self) { try Multibase.decode("mYR") }  // non-zero padding bits
    }

    @Test func randomBytesRoundTripThroughEveryBase() throws {
        var rng = SeededGenerator(seed: 2)
        for round in 0..<400 {
            var input = rng.bytes(round % 70)
            if round % 5 == 0 { input.insert(contentsOf: [0, 0], at: 0) }
            for base in Multibase.allCases {
                let text = Multibase.encode(input, as: base)
                let decoded = try Multibase.decode(text)
                #expect(decoded.bytes == input, "\(base) \(input)")
            }
        }
    }

    @Test func randomStringsNeverCrashTheDecoder() {
        var rng = SeededGenerator(seed: 3)
        let alphabet = Array(
            "fFbBkKzmu0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/=-_!é\u{0}".unicodeScalars
        )
        for _ in 0..<3000 {
            let length = Int(rng.next() % 40)
            var s = ""
            for _ in 0..<length { s.unicodeScalars.append(alphabet[Int(rng.next() % UInt64(alphabet.count))]) }
            _ = try? Multibase.decode(s)
        }
    }
}
