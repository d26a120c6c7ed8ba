import DagCBOR
import Multiformats
import Testing
import ThreadsTestKit

@Suite struct PropertyTests {
    @Test func decodeEncodeIsIdentityForRandomValues() throws {
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<3000 {
            let value = rng.value(depth: 4)
            let cbor = try DagCBOR.encode(value)
            #expect(try DagCBOR.decode(cbor) == value)
            let json = try DagJSON.encode(value)
            let back = try DagJSON.decode(json)
            #expect(back == value, "\(String(decoding: json, as: UTF8.self))")
            // Both codecs name the same value: converting preserves the canonical bytes.
            #expect(try DagCBOR.encode(back) == cbor)
        }
    }

    @Test func randomBytesNeverCrashEitherDecoder() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<20_000 {
            let bytes = rng.bytes(rng.below(48))
            if let value = try? DagCBOR.decode(bytes) {
                // Whatever decodes was canonical: it re-encodes to the same bytes.
                #expect((try? DagCBOR.encode(value)) == bytes)
            }
            _ = try? DagJSON.decode(bytes)
        }
    }

    @Test func mutationsAndTruncationsOfValidEncodingsNeverCrash() throws {
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<600 {
            let value = rng.value(depth: 3)
            for encoded in [try DagCBOR.encode(value), try DagJSON.encode(value)] {
                for cut in stride(from: 0, to: encoded.count, by: max(1, encoded.count / 8)) {
                    _ = try? DagCBOR.decode(Array(encoded.prefix(cut)))
                    _ = try? DagJSON.decode(Array(encoded.prefix(cut)))
                }
                guard !encoded.isEmpty else { continue }
                for _ in 0..<4 {
                    var mutated = encoded
                    mutated[rng.below(mutated.count)] = UInt8(truncatingIfNeeded: rng.next())
                    if let decoded = try? DagCBOR.decode(mutated) {
                        #expect((try? DagCBOR.encode(decoded)) == mutated)
                    }
                    _ = try? DagJSON.decode(mutated)
                }
            }
        }
    }

    @Test func truncatedEncodingsAreAlwaysRejected() throws {
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<300 {
            let cbor = try DagCBOR.encode(rng.value(depth: 3))
            for cut in 0..<cbor.count {
                #expect(throws: DagCBORError.self) { try DagCBOR.decode(Array(cbor.prefix(cut))) }
            }
        }
    }
}
