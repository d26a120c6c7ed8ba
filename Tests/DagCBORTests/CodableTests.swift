import DagCBOR
import Foundation
import Multiformats
import Testing

@Suite struct CodableTests {
    struct Header: Codable, Equatable {
        var key: [UInt8]
        var time: Int64
        var clock: [UInt64]
    }

    struct Record: Codable, Equatable {
        var prev: CID?
        var block: CID
        var sig: Data
        var header: Header
        var tags: [String]
        var score: Double
        var note: String?
        var extra: IPLD
    }

    static func sample(prev: CID?) throws -> Record {
        let link = CID.v1(codec: Multicodec.dagCBOR, multihash: try Multihash.hash([1, 2, 3], using: .sha2_256))
        return Record(
            prev: prev,
            block: link,
            sig: Data([9, 8, 7]),
            header: Header(key: [1, 2], time: -42, clock: [UInt64.max, 0]),
            tags: ["a", "b"],
            score: 0.25,
            note: nil,
            extra: ["nested": [1, "two", nil]]
        )
    }

    @Test func roundTripsNestedStructsLinksAndBytes() throws {
        let first = try Self.sample(prev: nil)
        let bytes = try DagCBOREncoder().encode(first)
        #expect(try DagCBORDecoder().decode(Record.self, from: bytes) == first)

        let second = try Self.sample(prev: try Block(bytes: bytes, codec: DagCBOR.code).cid)
        let bytes2 = try DagCBOREncoder().encode(second)
        #expect(try DagCBORDecoder().decode(Record.self, from: bytes2) == second)
    }

    @Test func mapsToTheExpectedDataModel() throws {
        let value = try IPLDEncoder().encode(try Self.sample(prev: nil))
        #expect(value["prev"] == nil)  // nil optionals are left out
        #expect(value["note"] == nil)
        #expect(value["block"]?.linkValue != nil)
        #expect(value["sig"] == .bytes([9, 8, 7]))
        #expect(value["header"]?["key"] == .bytes([1, 2]))
        #expect(value["header"]?["clock"]?[0] == .integer(IPLDInteger(UInt64.max)))
        #expect(value["score"] == .float(0.25))
    }

    @Test func mismatchesAreTypedErrors() throws {
        let bytes = try DagCBOR.encode(["block": "not a link"])
        #expect(throws: DagCBORError.self) { try DagCBORDecoder().decode(Record.self, from: bytes) }
        #expect(throws: DagCBORError.self) { try IPLDDecoder().decode(UInt8.self, from: .integer(300)) }
        #expect(throws: DagCBORError.self) {
            try IPLDDecoder().decode(Int.self, from: .integer(IPLDInteger(UInt64.max)))
        }
    }
}
