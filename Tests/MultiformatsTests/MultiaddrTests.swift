import Multiformats
import Testing
import ThreadsTestKit

/// go-multiaddr's good and bad cases (Tests/Fixtures/multiaddr) plus the protocols added here.
@Suite struct MultiaddrTests {
    @Test func goodCasesParseAndRoundTrip() throws {
        let good = try Fixtures.lines("multiaddr/good.txt")
        #expect(good.count == 36)
        for text in good {
            let addr = try Multiaddr(text)
            let again = try Multiaddr(addr.description)
            #expect(again == addr, "\(text)")
            #expect(try Multiaddr(bytes: addr.bytes) == addr, "\(text)")
            #expect(again.description == addr.description)
        }
    }

    @Test func badCasesAreRejected() throws {
        let bad = try Fixtures.lines("multiaddr/bad.txt") + [""]
        #expect(bad.count > 60)
        for text in bad {
            #expect(throws: MultiformatsError.self, "\(text)") { try Multiaddr(text) }
        }
    }

    @Test func binaryVectors() throws {
        for line in try Fixtures.lines("multiaddr/binary.txt") {
            let parts = line.split(separator: " ")
            let addr = try Multiaddr(String(parts[0]))
            #expect(Fixtures.hexString(addr.bytes) == String(parts[1]))
            #expect(try Multiaddr(bytes: Fixtures.hex(parts[1])).description == String(parts[0]))
        }
    }

    @Test func canonicalStringForm() throws {
        #expect(
            try Multiaddr("/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC").description
                == "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"
        )
        #expect(try Multiaddr("/ip6/2001:DB8:0:0:0:0:0:1/tcp/4006").description == "/ip6/2001:db8::1/tcp/4006")
        #expect(try Multiaddr("/ip4/127.0.0.1/tcp/1234/").description == "/ip4/127.0.0.1/tcp/1234")
        #expect(try Multiaddr("/dns4/example.com/tcp/443").description == "/dns4/example.com/tcp/443")
        #expect(try Multiaddr("/ip4/1.2.3.4/udp/4006/quic-v1").components.last?.valueString == nil)
        let cidForm = try Multiaddr("/p2p/k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs")
        #expect(cidForm.description.hasPrefix("/p2p/12D3KooW"))
    }

    @Test func threadComponent() throws {
        let id: [UInt8] = [0x01, 0x55] + [UInt8](repeating: 7, count: 32)
        let text =
            "/ip4/192.0.2.7/tcp/4006/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/thread/"
            + Multibase.encode(id, as: .base32)
        let addr = try Multiaddr(text)
        #expect(addr.description == text)
        #expect(addr.components.last?.protocolCode == 406)
        #expect(addr.components.last?.value == id)
        #expect(try Multiaddr(bytes: addr.bytes) == addr)
        #expect(addr.peerID?.description == "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
        // Wrong variant, wrong length, and another base for the same ID.
        #expect(throws: MultiformatsError.self) {
            try Multiaddr("/thread/" + Multibase.encode([0x01, 0x56] + id.dropFirst(2), as: .base32))
        }
        #expect(throws: MultiformatsError.self) {
            try Multiaddr("/thread/" + Multibase.encode(id.dropLast(), as: .base32))
        }
        #expect(try Multiaddr("/thread/" + Multibase.encode(id, as: .base58btc)).components[0].value == id)
    }

    @Test func encapsulateAndPeer() throws {
        let base = try Multiaddr("/ip4/10.0.0.1/tcp/4006")
        let peer = try Multiaddr("/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
        let full = try base.encapsulate(peer)
        #expect(full.description == "/ip4/10.0.0.1/tcp/4006/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
        #expect(full.withoutPeerID == base)
        #expect(full.value(for: .tcp) == "4006")
    }

    @Test func everyTruncationAndRandomBytesFailCleanly() throws {
        let addr = try Multiaddr("/ip6/::1/udp/4006/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
        // A cut between components is a shorter valid address; a cut inside one is an error.
        let boundaries: Set<Int> = [17, 21]  // after /ip6/::1, after /udp/4006
        for cut in 1..<addr.bytes.count {
            if boundaries.contains(cut) {
                #expect(try Multiaddr(bytes: addr.bytes.prefix(cut)).bytes == Array(addr.bytes.prefix(cut)))
            } else {
                #expect(throws: MultiformatsError.self) { try Multiaddr(bytes: addr.bytes.prefix(cut)) }
            }
        }
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<5000 {
            var bytes = rng.bytes(Int(rng.next() % 40) + 1)
            bytes[0] = [4, 6, 41, 53, 0xa5][Int(rng.next() % 5)]
            if let parsed = try? Multiaddr(bytes: bytes) {
                #expect(parsed.bytes == bytes)
                #expect(try Multiaddr(parsed.description) == parsed)
            }
        }
    }
}
