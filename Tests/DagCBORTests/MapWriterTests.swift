import DagCBOR
import Multiformats
import Testing
import ThreadsTestKit

/// `DagCBORMapWriter` writes the same bytes as encoding the equivalent `IPLD.map`.
@Suite struct MapWriterTests {
    @Test func recordShapedMapsMatchTheGenericEncoder() throws {
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<500 {
            let log = rng.bytes(32)
            let sequence = rng.next() >> UInt64(rng.below(64))
            let prev: CID? =
                rng.next() % 3 == 0
                ? nil : CID.v1(codec: Multicodec.dagCBOR, multihash: try Multihash.hash(rng.bytes(8), using: .sha2_256))
            let event = CID.v1(codec: Multicodec.dagCBOR, multihash: try Multihash.hash(rng.bytes(8), using: .sha2_256))
            let epoch = rng.next() >> UInt64(rng.below(64))
            let acl: IPLD? = rng.next() % 2 == 0 ? nil : rng.value(depth: 3)
            let signature: [UInt8]? = rng.next() % 2 == 0 ? nil : rng.bytes(64)
            let thread = rng.bytes(rng.below(40))

            var expected: [String: IPLD] = [
                "log": .bytes(log), "seq": .integer(IPLDInteger(sequence)), "prev": prev.map { .link($0) } ?? .null,
                "epoch": .integer(IPLDInteger(epoch)), "event": .link(event), "thread": .bytes(thread),
            ]
            var map = DagCBORMapWriter(count: 6 + (acl == nil ? 0 : 1) + (signature == nil ? 0 : 1))
            if let acl {
                expected["acl"] = acl
                map.key("acl")
                try map.value(acl)
            }
            map.key("log")
            map.bytes(log)
            map.key("seq")
            map.unsigned(sequence)
            if let signature {
                expected["sig"] = .bytes(signature)
                map.key("sig")
                map.bytes(signature)
            }
            map.key("prev")
            if let prev { map.link(prev) } else { map.null() }
            map.key("epoch")
            map.unsigned(epoch)
            map.key("event")
            map.link(event)
            map.key("thread")
            map.bytes(thread)
            #expect(map.encoded == (try DagCBOR.encode(.map(expected))))
        }
    }

    @Test func byteStringsMatchTheGenericEncoder() throws {
        var rng = SeededGenerator(seed: 12)
        for length in [0, 1, 23, 24, 255, 256, 65535, 65536, 70000] {
            let bytes = rng.bytes(length)
            #expect(DagCBOR.encode(bytes: bytes) == (try DagCBOR.encode(.bytes(bytes))))
        }
    }
}
