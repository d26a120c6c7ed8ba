import DagCBOR
import Multiformats
import Testing
import ThreadsTestKit

/// `DagCBORMapReader` reads what the generic decoder reads, and refuses what it refuses, or any
/// map not of the shape asked for.
@Suite struct MapReaderTests {
    /// A record-shaped map, read field by field as `ThreadRecord.open` reads it.
    struct Shape: Equatable {
        var acl: IPLD?
        var log: [UInt8]
        var sequence: UInt64
        var prev: CID?
        var event: CID

        init(acl: IPLD?, log: [UInt8], sequence: UInt64, prev: CID?, event: CID) {
            self.acl = acl
            self.log = log
            self.sequence = sequence
            self.prev = prev
            self.event = event
        }

        init(reading bytes: [UInt8]) throws(DagCBORError) {
            var map = try DagCBORMapReader(bytes)
            if map.nextKey(is: "acl") {
                try map.key("acl")
                acl = try map.value()
            }
            try map.key("log")
            log = try map.bytes()
            try map.key("seq")
            sequence = try map.unsigned()
            try map.key("prev")
            prev = try map.linkOrNull()
            try map.key("event")
            event = try map.link()
            try map.end()
        }

        var ipld: IPLD {
            var fields: [String: IPLD] = [
                "log": .bytes(log), "seq": .integer(IPLDInteger(sequence)), "prev": prev.map { .link($0) } ?? .null,
                "event": .link(event),
            ]
            fields["acl"] = acl
            return .map(fields)
        }
    }

    static func cid(_ rng: inout SeededGenerator) throws -> CID {
        CID.v1(codec: Multicodec.dagCBOR, multihash: try Multihash.hash(rng.bytes(8), using: .sha2_256))
    }

    @Test func readsWhatTheGenericEncoderWrites() throws {
        var rng = SeededGenerator(seed: 21)
        for _ in 0..<500 {
            let shape = Shape(
                acl: rng.next() % 2 == 0 ? nil : rng.value(depth: 3),
                log: rng.bytes(rng.below(70)),
                sequence: rng.next() >> UInt64(rng.below(64)),
                prev: rng.next() % 3 == 0 ? nil : try Self.cid(&rng),
                event: try Self.cid(&rng)
            )
            let bytes = try DagCBOR.encode(shape.ipld)
            #expect(try Shape(reading: bytes) == shape)
        }
    }

    @Test func refusesMapsOfAnotherShape() throws {
        var rng = SeededGenerator(seed: 22)
        let event = try Self.cid(&rng)
        let good: [String: IPLD] = ["log": .bytes([1]), "seq": .integer(5), "prev": .null, "event": .link(event)]
        var cases: [(String, [String: IPLD])] = []
        var missing = good
        missing["seq"] = nil
        cases.append(("a missing key", missing))
        var extra = good
        extra["zzz"] = .integer(1)
        cases.append(("an extra key at the end", extra))
        var early = good
        early["a"] = .integer(1)
        cases.append(("an extra key in front", early))
        var wrongType = good
        wrongType["seq"] = .string("5")
        cases.append(("a string for an integer", wrongType))
        var negative = good
        negative["seq"] = .integer(IPLDInteger(isNegative: true, argument: 4))
        cases.append(("a negative integer", negative))
        var notLink = good
        notLink["event"] = .bytes(event.bytes)
        cases.append(("bytes for a link", notLink))
        var nullEvent = good
        nullEvent["event"] = .null
        cases.append(("null for a required link", nullEvent))
        for (what, fields) in cases {
            let bytes = try DagCBOR.encode(.map(fields))
            #expect(throws: DagCBORError.self, "\(what)") { try Shape(reading: bytes) }
        }
        #expect(try Shape(reading: DagCBOR.encode(.map(good))).sequence == 5)
    }

    @Test func isAsStrictAsTheGenericDecoder() throws {
        var rng = SeededGenerator(seed: 23)
        let good = try DagCBOR.encode(
            .map(["log": .bytes([1, 2]), "seq": .integer(30), "prev": .null, "event": .link(try Self.cid(&rng))])
        )
        // Every truncation, and trailing bytes.
        for end in 0..<good.count {
            #expect(throws: DagCBORError.self) { try Shape(reading: Array(good[..<end])) }
        }
        #expect(throws: DagCBORError.self) { try Shape(reading: good + [0x00]) }
        // A non-minimal integer: 30 is 0x18 0x1e; written as 0x19 0x00 0x1e it is refused.
        let seq = try #require(good.firstIndex(of: 0x18))
        #expect(good[seq + 1] == 30)
        let padded = Array(good[..<seq]) + [0x19, 0x00, 0x1e] + Array(good[(seq + 2)...])
        #expect(throws: DagCBORError.self) { try DagCBOR.decode(padded) }
        #expect(throws: DagCBORError.self) { try Shape(reading: padded) }
        // Every single-byte change either still decodes generically to the same shape, or is refused
        // by both readers alike.
        for index in good.indices {
            for flip: UInt8 in [0x01, 0x20, 0x80] {
                var bent = good
                bent[index] ^= flip
                let generic = try? DagCBOR.decode(bent)
                let fast = try? Shape(reading: bent)
                if let fast { #expect(generic == fast.ipld) }
                if generic == nil { #expect(fast == nil) }
            }
        }
    }

    /// Random splices of valid maps and random bytes: the reader never crashes, and whatever it
    /// accepts the generic decoder reads as the same value.
    @Test func hostileBytesNeverPassUnlessTheyAreTheShape() throws {
        var rng = SeededGenerator(seed: 25)
        var accepted = 0
        for _ in 0..<5000 {
            let shape = Shape(
                acl: rng.next() % 4 == 0 ? rng.value(depth: 2) : nil,
                log: rng.bytes(rng.below(40)),
                sequence: rng.next() >> UInt64(rng.below(64)),
                prev: rng.next() % 2 == 0 ? nil : try Self.cid(&rng),
                event: try Self.cid(&rng)
            )
            let bytes = rng.mangled(try DagCBOR.encode(shape.ipld))
            guard let read = try? Shape(reading: bytes) else { continue }
            accepted += 1
            #expect(try DagCBOR.decode(bytes) == read.ipld)
        }
        // Some single-byte changes land in byte-string contents and still decode.
        #expect(accepted > 0)
    }

    @Test func byteStringWrappers() throws {
        var rng = SeededGenerator(seed: 24)
        for length in [0, 1, 23, 24, 255, 256, 70000] {
            let bytes = rng.bytes(length)
            #expect(try DagCBOR.decodeBytes(DagCBOR.encode(bytes: bytes)) == bytes)
        }
        #expect(throws: DagCBORError.self) { try DagCBOR.decodeBytes(DagCBOR.encode(bytes: [1, 2]) + [0]) }
        #expect(throws: DagCBORError.self) { try DagCBOR.decodeBytes(Array(DagCBOR.encode(bytes: [1, 2]).dropLast())) }
        #expect(throws: DagCBORError.self) { try DagCBOR.decodeBytes(DagCBOR.encode(.string("ab"))) }
        #expect(throws: DagCBORError.self) { try DagCBOR.decodeBytes([0x58, 0x01, 0x07]) }  // non-minimal length
        #expect(throws: DagCBORError.self) { try DagCBOR.decodeBytes([]) }
    }
}
