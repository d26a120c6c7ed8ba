import Multiformats
import Testing
import ThreadsTestKit

@Suite struct VarintTests {
    static let known: [(UInt64, [UInt8])] = [
        (0, [0x00]), (1, [0x01]), (127, [0x7f]), (128, [0x80, 0x01]), (255, [0xff, 0x01]),
        (300, [0xac, 0x02]), (16384, [0x80, 0x80, 0x01]),
        ((1 << 63) - 1, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
    ]

    @Test(arguments: known)
    func knownEncodings(value: UInt64, encoded: [UInt8]) throws {
        #expect(Varint.encode(value) == encoded)
        #expect(Varint.encodedLength(value) == encoded.count)
        let (decoded, length) = try Varint.decode(encoded)
        #expect(decoded == value)
        #expect(length == encoded.count)
    }

    @Test func decodeReadsOnlyThePrefix() throws {
        let (value, length) = try Varint.decode([0xac, 0x02, 0xff, 0xff])
        #expect(value == 300)
        #expect(length == 2)
    }

    @Test func rejectsNonMinimalEncodings() {
        #expect(throws: MultiformatsError.nonMinimalVarint(offset: 1)) { try Varint.decode([0x81, 0x00]) }
        #expect(throws: MultiformatsError.nonMinimalVarint(offset: 2)) { try Varint.decode([0x80, 0x80, 0x00]) }
    }

    @Test func rejectsTruncatedAndEmptyInput() {
        #expect(throws: MultiformatsError.empty(what: "varint")) { try Varint.decode([UInt8]()) }
        #expect(throws: MultiformatsError.truncated(what: "varint", offset: 2)) { try Varint.decode([0x80, 0x80]) }
    }

    @Test func rejectsMoreThanNineBytes() {
        let ten: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
        #expect(throws: MultiformatsError.varintTooLong(offset: 9, maxLength: 9)) { try Varint.decode(ten) }
        // 2^63 needs ten bytes, so it cannot be read back.
        #expect(Varint.encode(1 << 63).count == 10)
        #expect(throws: MultiformatsError.self) { try Varint.decode(Varint.encode(1 << 63)) }
    }

    @Test func randomValuesRoundTrip() throws {
        var rng = SeededGenerator(seed: 1)
        for _ in 0..<5000 {
            let value = rng.next() >> UInt64.random(in: 1...63, using: &rng)
            let encoded = Varint.encode(value)
            let (decoded, length) = try Varint.decode(encoded)
            #expect(decoded == value && length == encoded.count)
        }
    }
}
