import DagCBOR
import Multiformats
import Testing

/// ipld/codec-fixtures: every positive fixture round-trips byte for byte and hashes to its CID;
/// every negative fixture is rejected.
@Suite struct FixtureTests {
    static let codecs: [String: UInt64] = ["dag-cbor": DagCBOR.code, "dag-json": DagJSON.code]

    static func decode(_ bytes: [UInt8], codec: String) throws -> IPLD {
        codec == "dag-cbor" ? try DagCBOR.decode(bytes) : try DagJSON.decode(bytes)
    }

    static func encode(_ value: IPLD, codec: String) throws -> [UInt8] {
        codec == "dag-cbor" ? try DagCBOR.encode(value) : try DagJSON.encode(value)
    }

    @Test func positiveFixturesRoundTripAndHash() throws {
        let fixtures = try Fixtures.positive()
        var files = 0
        for fixture in fixtures {
            var values: [String: IPLD] = [:]
            for (codec, file) in fixture.files {
                let value = try Self.decode(file.bytes, codec: codec)
                values[codec] = value
                #expect(try Self.encode(value, codec: codec) == file.bytes, "\(fixture.name) \(codec) re-encode")
                let block = try Block(value: value, codec: Self.codecs[codec]!)
                #expect(block.cid.description == file.cid, "\(fixture.name) \(codec) CID")
                #expect(try Block(cid: CID(file.cid), bytes: file.bytes).decode() == value)
                files += 1
            }
            // The same data-model value in both codecs: decoding either gives it, and encoding it in
            // the other codec reproduces the other fixture.
            if let cbor = values["dag-cbor"], let json = values["dag-json"] {
                #expect(cbor == json, "\(fixture.name): codecs disagree")
                #expect(try DagJSON.encode(cbor) == fixture.files["dag-json"]!.bytes, "\(fixture.name) cbor->json")
                #expect(try DagCBOR.encode(json) == fixture.files["dag-cbor"]!.bytes, "\(fixture.name) json->cbor")
            }
        }
        #expect(files == 256)
    }

    @Test(arguments: ["dag-cbor", "dag-json"])
    func negativeFixturesAreRejected(codec: String) throws {
        let cases = try Fixtures.negative(codec)
        #expect(!cases.isEmpty)
        for c in cases {
            let bytes = Fixtures.hex(try #require(c.hex))
            #expect(throws: DagCBORError.self, "\(c.name)") { try Self.decode(bytes, codec: codec) }
        }
    }

    @Test func fullIntegerRange() throws {
        let cases: [(String, [UInt8])] = [
            ("18446744073709551615", [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            ("-18446744073709551616", [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            ("-9223372036854775809", [0x3b, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        ]
        for (text, cbor) in cases {
            let fromJSON = try DagJSON.decode(Array(text.utf8))
            #expect(try DagCBOR.encode(fromJSON) == cbor, "\(text)")
            #expect(try DagCBOR.decode(cbor) == fromJSON)
            #expect(try DagJSON.encode(fromJSON) == Array(text.utf8))
        }
        #expect(throws: DagCBORError.self) { try DagJSON.decode(Array("18446744073709551616".utf8)) }
        #expect(throws: DagCBORError.self) { try DagJSON.decode(Array("-18446744073709551617".utf8)) }
    }
}
