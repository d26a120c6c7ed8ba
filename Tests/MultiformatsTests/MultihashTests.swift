import Multiformats
import Testing

/// The multiformats/multihash test suite (Tests/Fixtures/multihash/test_cases.csv).
@Suite struct MultihashTests {
    struct Case {
        let algorithm: String
        let bits: Int
        let input: [UInt8]
        let multihash: [UInt8]
    }

    static func cases() throws -> [Case] {
        try Fixtures.lines("multihash/test_cases.csv").dropFirst().map { line in
            let f = line.split(separator: ",").map(String.init)
            // The input column is the ASCII text itself (the generator hashes the string as written).
            return Case(algorithm: f[0], bits: Int(f[1])!, input: Array(f[2].utf8), multihash: Fixtures.hex(f[3]))
        }
    }

    @Test func computedFunctionsMatchEveryVector() throws {
        var checked = 0
        for c in try Self.cases() {
            guard let function = HashFunction(name: c.algorithm) else { continue }
            let full = try Multihash.hash(c.input, using: function)
            let truncated = try Multihash(code: function.code, digest: Array(full.digest.prefix(c.bits / 8)))
            #expect(truncated.bytes == c.multihash, "\(c.algorithm) \(c.bits)")
            let parsed = try Multihash(bytes: c.multihash)
            #expect(parsed.verify(c.input))
            checked += 1
        }
        #expect(checked == 140)  // the sha2-256 and sha2-512 rows
    }

    @Test func everyVectorParsesAndRoundTrips() throws {
        for c in try Self.cases() {
            let parsed = try Multihash(bytes: c.multihash)
            #expect(parsed.bytes == c.multihash)
            #expect(parsed.digest.count == c.bits / 8)
            #expect(try Multihash(code: parsed.code, digest: parsed.digest) == parsed)
        }
    }

    @Test func blake2b256AndIdentity() throws {
        // BLAKE2b-256 of the empty string (RFC 7693 parameters, 32-byte output).
        let empty = try Multihash.hash([], using: .blake2b_256)
        #expect(Fixtures.hexString(empty.digest) == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        #expect(Array(empty.bytes.prefix(3)) == [0xa0, 0xe4, 0x02])  // varint(0xb220)
        #expect(empty.bytes[3] == 32)
        let identity = try Multihash.hash([1, 2, 3], using: .identity)
        #expect(identity.bytes == [0x00, 0x03, 1, 2, 3])
        #expect(identity.verify([1, 2, 3]) && !identity.verify([1, 2, 4]))
    }

    @Test func rejectsBadLengthsAndTrailingBytes() {
        #expect(throws: MultiformatsError.self) {
            try Multihash(bytes: [0x12, 0x21] + [UInt8](repeating: 0, count: 33))
        }
        #expect(throws: MultiformatsError.self) { try Multihash(bytes: [0x12, 0x20, 0x00]) }
        #expect(throws: MultiformatsError.trailingBytes(what: "multihash", offset: 3)) {
            try Multihash(bytes: [0x00, 0x01, 0xaa, 0xbb])
        }
        // A digest larger than the limit.
        #expect(throws: MultiformatsError.self) { try Multihash(bytes: [0x00, 0xff, 0xff, 0x03]) }
        #expect(throws: MultiformatsError.self) {
            try Multihash.hash([UInt8](repeating: 0, count: 5000), using: .identity)
        }
    }

    @Test func carriesUnknownFunctions() throws {
        let mh = try Multihash(bytes: [0xf0, 0x01, 0x02, 0xaa, 0xbb])
        #expect(mh.code == 0xf0)
        #expect(mh.name == nil && mh.function == nil)
        #expect(!mh.verify([0xaa]))
    }

    @Test func everyTruncationFailsCleanly() throws {
        let mh = try Multihash.hash(Array("abc".utf8), using: .sha2_256)
        for cut in 0..<mh.bytes.count {
            #expect(throws: MultiformatsError.self) { try Multihash(bytes: mh.bytes.prefix(cut)) }
        }
    }
}
