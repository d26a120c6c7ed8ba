import Foundation
import Multiformats
import Testing
import ThreadsTestKit

@Suite struct CIDTests {
    static let v0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"
    static let v0AsV1 = "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"

    @Test func v0ParsesAndConvertsToV1() throws {
        let cid = try CID(Self.v0)
        #expect(cid.version == 0)
        #expect(cid.codec == Multicodec.dagPB)
        #expect(cid.multihash.code == Multicodec.sha2_256)
        #expect(cid.bytes.count == 34)
        #expect(cid.description == Self.v0)
        #expect(cid.toV1().description == Self.v0AsV1)
        #expect(try CID(Self.v0AsV1) == cid.toV1())
        #expect(cid != cid.toV1())
    }

    /// Every codec-fixture file name is a CIDv1 of its content.
    @Test func codecFixtureNamesParseAndHash() throws {
        let root = Fixtures.root.appendingPathComponent("codec-fixtures/fixtures")
        var checked = 0
        for dir in try FileManager.default.contentsOfDirectory(atPath: root.path) {
            let url = root.appendingPathComponent(dir)
            for name in try FileManager.default.contentsOfDirectory(atPath: url.path) {
                let cidText = String(name.split(separator: ".")[0])
                let cid = try CID(cidText)
                #expect(cid.version == 1)
                #expect(cid.description == cidText)
                let data = [UInt8](try Data(contentsOf: url.appendingPathComponent(name)))
                #expect(cid.multihash.verify(data), "\(name)")
                #expect(try CID(bytes: cid.bytes) == cid)
                for base in Multibase.allCases {
                    #expect(try CID(cid.string(base: base)) == cid)
                }
                checked += 1
            }
        }
        #expect(checked >= 200)
    }

    @Test func printsInEveryBaseWithItsPrefix() throws {
        let cid = try CID("bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae")
        #expect(try cid.string(base: .base58btc).hasPrefix("zdpu"))
        #expect(try cid.string(base: .base36).first == "k")
        #expect(try cid.string(base: .base16) == "f" + Fixtures.hexString(cid.bytes))
        #expect(try cid.string(base: .base32upper) == cid.description.uppercased())
    }

    @Test func v0HasOnlyOneStringForm() throws {
        let cid = try CID(Self.v0)
        #expect(throws: MultiformatsError.self) { try cid.string(base: .base32) }
        // A v0 multihash behind a multibase prefix is not a valid CID string.
        #expect(throws: MultiformatsError.self) { try CID(Multibase.encode(cid.bytes, as: .base32)) }
    }

    @Test func rejectsMalformedInput() {
        let bad = [
            "", "Qm", "bafy", "zzz", "b", "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1",
            "bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfva",  // truncated digest
            "f0271",  // version 2
            "f01711220",  // digest missing
        ]
        for text in bad {
            #expect(throws: MultiformatsError.self, "\(text)") { try CID(text) }
        }
    }

    @Test func decodePrefixReadsEmbeddedCIDs() throws {
        let cid = CID.v1(codec: Multicodec.raw, multihash: try Multihash.hash([1], using: .sha2_256))
        let buffer = [0xaa] + cid.bytes + [0xbb, 0xcc]
        let (parsed, length) = try CID.decodePrefix(buffer, from: 1)
        #expect(parsed == cid && length == cid.bytes.count)
        #expect(throws: MultiformatsError.trailingBytes(what: "CID", offset: cid.bytes.count)) {
            try CID(bytes: cid.bytes + [0])
        }
    }

    @Test func everyTruncationAndRandomBytesFailCleanly() throws {
        let cid = try CID("bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae")
        for cut in 0..<cid.bytes.count {
            #expect(throws: MultiformatsError.self) { try CID(bytes: cid.bytes.prefix(cut)) }
        }
        var rng = SeededGenerator(seed: 4)
        for _ in 0..<5000 {
            var bytes = rng.bytes(Int(rng.next() % 48))
            if !bytes.isEmpty && rng.next() % 2 == 0 { bytes[0] = 0x01 }
            if let cid = try? CID(bytes: bytes) {
                #expect(cid.bytes == bytes)  // whatever parses is canonical
            }
        }
    }
}
