import DagCBOR
import Testing
import ThreadsTestKit

/// Mutated DAG-JSON never crashes the decoder; whatever decodes re-encodes and decodes to itself.
@Suite struct JSONFuzzTests {
    @Test func mutatedDocuments() throws {
        var rng = SeededGenerator(seed: 31)
        let pieces = Array("{}[],:\"\\/0123456789.eE+-truefalsnbytes é\u{1}".utf8)
        for _ in 0..<400 {
            let value = rng.value(depth: 3)
            let json = try DagJSON.encode(value)
            for _ in 0..<10 {
                var mutated = json
                for _ in 0...rng.below(3) where !mutated.isEmpty {
                    let index = rng.below(mutated.count)
                    switch rng.below(3) {
                    case 0: mutated[index] = pieces[rng.below(pieces.count)]
                    case 1: mutated.remove(at: index)
                    default: mutated.insert(pieces[rng.below(pieces.count)], at: index)
                    }
                }
                guard let decoded = try? DagJSON.decode(mutated) else { continue }
                // Maps that merely look reserved may not re-encode; everything else must round-trip.
                guard let again = try? DagJSON.encode(decoded) else { continue }
                #expect(try DagJSON.decode(again) == decoded)
            }
        }
    }
}
