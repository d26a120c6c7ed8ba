import Multiformats
import Testing
import ThreadsTestKit

/// Random and mutated strings never crash the string parsers; whatever parses prints back to a
/// form that parses to the same value.
@Suite struct StringFuzzTests {
    static let alphabet = Array(
        "/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.:-_%@ é水\u{0}".unicodeScalars
    )

    static func randomString(_ rng: inout SeededGenerator, maxLength: Int) -> String {
        var s = ""
        for _ in 0..<rng.below(maxLength) { s.unicodeScalars.append(alphabet[rng.below(alphabet.count)]) }
        return s
    }

    static func mutate(_ text: String, _ rng: inout SeededGenerator) -> String {
        var scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { return text }
        switch rng.below(3) {
        case 0: scalars[rng.below(scalars.count)] = alphabet[rng.below(alphabet.count)]
        case 1: scalars.remove(at: rng.below(scalars.count))
        default: scalars.insert(alphabet[rng.below(alphabet.count)], at: rng.below(scalars.count))
        }
        var out = ""
        out.unicodeScalars.append(contentsOf: scalars)
        return out
    }

    @Test func cidStrings() throws {
        var rng = SeededGenerator(seed: 21)
        let seeds = [
            "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n",
            "bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae",
            "zdpuAtX7ZibcWdSKQwiDCkPjWwRvtcKCPku9H7LhgA4qJW4Wk",
        ]
        for i in 0..<6000 {
            let text = i % 2 == 0 ? Self.randomString(&rng, maxLength: 60) : Self.mutate(seeds[i % 3], &rng)
            if let cid = try? CID(text) {
                #expect(try CID(cid.description) == cid)
            }
        }
    }

    @Test func multiaddrAndPeerStrings() throws {
        var rng = SeededGenerator(seed: 22)
        let seeds = [
            "/ip4/127.0.0.1/tcp/4006/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
            "/ip6/::1/udp/4006/quic-v1", "/dns4/example.com/tcp/443",
        ]
        for i in 0..<6000 {
            let text = i % 2 == 0 ? "/" + Self.randomString(&rng, maxLength: 40) : Self.mutate(seeds[i % 3], &rng)
            if let addr = try? Multiaddr(text) {
                #expect(try Multiaddr(addr.description) == addr, "\(text)")
            }
            if let peer = try? PeerID(Self.mutate("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA", &rng)) {
                #expect(try PeerID(peer.description) == peer)
            }
        }
    }
}
