import DagCBOR
import Multiformats
import Testing

/// Every non-canonical DAG-CBOR form is rejected with an error that names the offset.
@Suite struct StrictnessTests {
    static let rejected: [(String, [UInt8])] = [
        ("non-minimal 1-byte int", [0x18, 0x17]),
        ("non-minimal 2-byte int", [0x19, 0x00, 0xff]),
        ("non-minimal 4-byte int", [0x1a, 0x00, 0x00, 0xff, 0xff]),
        ("non-minimal 8-byte int", [0x1b, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff]),
        ("non-minimal string length", [0x78, 0x01, 0x61]),
        ("indefinite list", [0x9f, 0x01, 0xff]),
        ("indefinite map", [0xbf, 0x61, 0x61, 0x01, 0xff]),
        ("indefinite bytes", [0x5f, 0x41, 0x00, 0xff]),
        ("indefinite string", [0x7f, 0x61, 0x61, 0xff]),
        ("half float", [0xf9, 0x3c, 0x00]),
        ("single float", [0xfa, 0x3f, 0x80, 0x00, 0x00]),
        ("NaN", [0xfb, 0x7f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        ("infinity", [0xfb, 0x7f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        ("undefined", [0xf7]),
        ("simple value 16", [0xf0]),
        ("simple value 255", [0xf8, 0xff]),
        ("break", [0xff]),
        ("reserved info 28", [0x1c]),
        ("tag 1", [0xc1, 0x01]),
        ("tag 42 around a string", [0xd8, 0x2a, 0x61, 0x61]),
        ("tag 42 without 0x00 prefix", [0xd8, 0x2a, 0x42, 0x01, 0x55]),
        ("tag 42 with a bad CID", [0xd8, 0x2a, 0x43, 0x00, 0x01, 0x55]),
        ("integer map key", [0xa1, 0x01, 0x01]),
        ("unsorted keys (length)", [0xa2, 0x62, 0x61, 0x61, 0x01, 0x61, 0x62, 0x02]),
        ("unsorted keys (bytes)", [0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02]),
        ("duplicate keys", [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]),
        ("invalid UTF-8", [0x62, 0xc3, 0x28]),
        ("trailing bytes", [0x01, 0x02]),
        ("empty input", []),
        ("truncated 2-byte int", [0x19, 0x01]),
        ("truncated list", [0x82, 0x01]),
        ("huge declared list", [0x9b, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        ("huge declared bytes", [0x5b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01]),
    ]

    @Test func rejectsEveryNonCanonicalForm() {
        for (name, bytes) in Self.rejected {
            #expect(throws: DagCBORError.self, "\(name)") { try DagCBOR.decode(bytes) }
        }
    }

    @Test func errorsNameTheOffset() throws {
        do {
            _ = try DagCBOR.decode([0x82, 0x01, 0x18, 0x05])
            Issue.record("accepted a non-minimal integer")
        } catch {
            #expect(error.offset == 2)
            #expect(error.description.contains("non-minimal"))
        }
    }

    @Test func canonicalEncodingChoices() throws {
        // Keys sort by length first in DAG-CBOR, bytewise in DAG-JSON.
        let value: IPLD = ["bb": 1, "a": 2, "ab": 3]
        #expect(try DagCBOR.encode(value) == [0xa3, 0x61, 0x61, 0x02, 0x62, 0x61, 0x62, 0x03, 0x62, 0x62, 0x62, 0x01])
        #expect(String(decoding: try DagJSON.encode(value), as: UTF8.self) == #"{"a":2,"ab":3,"bb":1}"#)
        // Floats are always 64-bit, even when a shorter form would be exact.
        #expect(try DagCBOR.encode(.float(1.5)) == [0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0])
        #expect(throws: DagCBORError.self) { try DagCBOR.encode(.float(.nan)) }
        #expect(throws: DagCBORError.self) { try DagJSON.encode(.float(-.infinity)) }
    }

    @Test func nestingLimit() throws {
        var deep: IPLD = .null
        for _ in 0..<DagCBOR.Limits.maxDepth { deep = .list([deep]) }
        let atLimit = try DagCBOR.encode(deep)
        #expect(try DagCBOR.decode(atLimit) == deep)
        #expect(throws: DagCBORError.self) { try DagCBOR.encode(.list([deep])) }
        // A hostile input nests far past the limit: rejected with the depth error, not a stack overflow.
        let hostile = [UInt8](repeating: 0x81, count: 100_000) + [0xf6]
        #expect(performing: { try DagCBOR.decode(hostile) }, throws: { ($0 as? DagCBORError)?.kind == .tooDeep })
        let hostileJSON = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect(performing: { try DagJSON.decode(hostileJSON) }, throws: { ($0 as? DagCBORError)?.kind == .tooDeep })
    }

    @Test func dagJSONReservedNamespace() throws {
        let rejected = [
            #"{"/":"foo","bar":"baz"}"#, #"{"/":{"bytes":"foo","bar":"baz"}}"#, #"{"/":{"bytes":"AA"},"bar":"baz"}"#,
            #"{"/":"bafy"}"#, #"{"/":{"bytes":"!!"}}"#, #"{"/":"zdpuAtX7ZibcWdSKQwiDCkPjWwRvtcKCPku9H7LhgA4qJW4Wk"}"#,
        ]
        for text in rejected {
            #expect(throws: DagCBORError.self, "\(text)") { try DagJSON.decode(Array(text.utf8)) }
        }
        // Valid maps that merely contain "/".
        #expect(try DagJSON.decode(Array(#"{"0bar":"baz","/":"foo"}"#.utf8)).mapValue?.count == 2)
        #expect(try DagJSON.decode(Array(#"{"/":true,"bar":"baz"}"#.utf8)).mapValue?.count == 2)
        #expect(try DagJSON.decode(Array(#"{"/":{"abar":"baz","bytes":"foo"}}"#.utf8)).mapValue != nil)
        // And the encoder refuses to write what would read back as a link.
        #expect(throws: DagCBORError.self) { try DagJSON.encode(["/": "x", "y": 1]) }
    }

    @Test func dagJSONAcceptsWhitespaceAndAnyKeyOrder() throws {
        let value = try DagJSON.decode(Array(" {\n \"b\" : [1, 2.5, -3e2],\t\"a\": null } ".utf8))
        #expect(String(decoding: try DagJSON.encode(value), as: UTF8.self) == #"{"a":null,"b":[1,2.5,-300.0]}"#)
        for bad in [
            "01", "1.", ".5", "-", "+1", "[1,]", "{\"a\":1,}", "\"\\x\"", "\"\u{1}\"", "tru", "[1 2]", "1e999",
            "\"\\ud800\"",
        ] {
            #expect(throws: DagCBORError.self, "\(bad)") { try DagJSON.decode(Array(bad.utf8)) }
        }
    }

    @Test func floatFormatting() throws {
        let cases: [(Double, String)] = [
            (1, "1.0"), (-0.5, "-0.5"), (1e21, "1e+21"), (1e20, "100000000000000000000.0"), (1e-7, "1e-7"),
            (0.000001, "0.000001"), (123.456, "123.456"), (Double.leastNonzeroMagnitude, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0, "0.0"),
        ]
        for (value, text) in cases {
            #expect(String(decoding: try DagJSON.encode(.float(value)), as: UTF8.self) == text)
            #expect(try DagJSON.decode(Array(text.utf8)) == .float(value))
        }
    }
}
