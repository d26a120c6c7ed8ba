import Testing
import ThreadsTestKit

@testable import ThreadsDB

@Suite(.timeLimit(.minutes(5))) struct IndexKeyTests {
    static func randomScalar(_ rng: inout SeededGenerator) -> JSON {
        switch rng.below(8) {
        case 0: return .null
        case 1: return .bool(rng.chance(0.5))
        case 2: return Corpus.scalar(&rng)
        case 3:
            // Any finite double, from its bits.
            while true {
                let number = Double(bitPattern: rng.next())
                if number.isFinite { return .number(number) }
            }
        case 4:
            return .number(
                rng.pick([
                    0, -0.0, 1, -1, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude,
                    -.greatestFiniteMagnitude, .leastNormalMagnitude, 1e-300, -1e300,
                ])
            )
        case 5: return .number(Double(rng.below(7)) - 3)
        default:
            // Short strings over a tiny alphabet with NUL, 0x01, ASCII and multi-byte scalars, so
            // prefixes and the escape collide often.
            let alphabet: [Unicode.Scalar] = ["\u{0}", "\u{1}", "a", "b", "\u{7F}", "\u{E9}", "\u{FFFF}", "\u{1F600}"]
            var text = ""
            for _ in 0..<rng.below(5) { text.unicodeScalars.append(rng.pick(alphabet)) }
            return .string(text)
        }
    }

    static func sign(_ value: Int) -> Int {
        value < 0 ? -1 : (value > 0 ? 1 : 0)
    }

    @Test func encodingOrderIsSortOrder() throws {
        var rng = SeededGenerator(seed: 0x5EED_0010)
        for _ in 0..<20000 {
            let a = Self.randomScalar(&rng)
            let b = rng.chance(0.1) ? a : Self.randomScalar(&rng)
            let x = try #require(IndexKey.encode(a))
            let y = try #require(IndexKey.encode(b))
            let bytes = x == y ? 0 : (x.lexicographicallyPrecedes(y) ? -1 : 1)
            #expect(bytes == Self.sign(Naive.compare(a, b)), "\(a) vs \(b)")
            #expect(bytes == Self.sign(ValueOrder.compare(a, b)), "\(a) vs \(b)")
        }
    }

    @Test func lengthAndDecodeRoundTripWithIDs() throws {
        var rng = SeededGenerator(seed: 0x5EED_0011)
        for _ in 0..<5000 {
            let value = Self.randomScalar(&rng)
            let encoded = try #require(IndexKey.encode(value))
            // Ids may hold any bytes, including the ones the string encoding uses.
            let id = (0..<rng.below(6)).map { _ in rng.pick([0x00, 0x01, 0xFF, 0x41] as [UInt8]) }
            let key = encoded + id
            #expect(IndexKey.encodedLength(key[...]) == encoded.count)
            #expect(IndexKey.encodedLength(([0x99] + key)[1...]) == encoded.count, "slices need not start at 0")
            let decoded = try #require(IndexKey.decode(key[...]))
            #expect(ValueOrder.equal(decoded, value) && decoded.serialized == value.serialized)
            for cut in 0..<encoded.count {
                #expect(IndexKey.encodedLength(encoded[..<cut]) == nil, "\(value) cut at \(cut)")
            }
        }
        #expect(IndexKey.encodedLength([]) == nil)
        #expect(IndexKey.encodedLength([0x06]) == nil)
        #expect(IndexKey.encodedLength([0x05, 0x61, 0x00, 0x02]) == nil)
    }

    @Test func exactBytes() {
        #expect(IndexKey.encode(nil) == [0x01])
        #expect(IndexKey.encode(false) == [0x02])
        #expect(IndexKey.encode(true) == [0x03])
        #expect(IndexKey.encode(0) == [0x04, 0x80, 0, 0, 0, 0, 0, 0, 0])
        #expect(IndexKey.encode(.number(-0.0)) == IndexKey.encode(0))
        #expect(IndexKey.encode(1) == [0x04, 0xBF, 0xF0, 0, 0, 0, 0, 0, 0])
        #expect(IndexKey.encode(-1) == [0x04, 0x40, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(IndexKey.encode("") == [0x05, 0x00, 0x01])
        #expect(IndexKey.encode("a\u{0}b") == [0x05, 0x61, 0x00, 0xFF, 0x62, 0x00, 0x01])
        #expect(IndexKey.encode([1]) == nil)
        #expect(IndexKey.encode([:]) == nil)
    }

    @Test func stringsWithNUL() throws {
        let ordered: [String] = [
            "", "\u{0}", "\u{0}\u{0}", "\u{0}\u{1}", "\u{1}", "a", "a\u{0}", "a\u{0}b", "a\u{1}", "ab",
        ]
        let keys = try ordered.map { try #require(IndexKey.encode(.string($0))) }
        for (a, b) in zip(keys, keys.dropFirst()) { #expect(a.lexicographicallyPrecedes(b)) }
        for (text, key) in zip(ordered, keys) {
            #expect(IndexKey.decode(key[...] + [0x00, 0x01]) == .string(text))
            #expect(IndexKey.encodedLength(key[...] + [0x00, 0xFF]) == key.count)
        }
    }

    @Test func entries() {
        let document: JSON = [
            "n": 5, "tags": ["b", "a", "b", 1, nil, [2], ["k": 3]], "o": ["k": 1], "empty": [], "nested": ["a": [true]],
        ]
        func entries(_ path: String) -> [JSON] {
            IndexKey.entries(of: document, at: FieldPath(path)).map { IndexKey.decode($0[...])! }
        }
        #expect(entries("n") == [5])
        #expect(entries("tags") == [nil, 1, "a", "b"])
        #expect(entries("tags.0") == ["b"])
        #expect(entries("tags.5") == [2])
        #expect(entries("tags.7").isEmpty)
        #expect(entries("o").isEmpty)
        #expect(entries("o.k") == [1])
        #expect(entries("nested.a") == [true])
        #expect(entries("empty").isEmpty)
        #expect(entries("missing").isEmpty)
    }
}
