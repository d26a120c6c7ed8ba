import Multiformats
import Sodium
import Testing
import ThreadsTestKit

@testable import DHT

@Suite("DHT keys", .timeLimit(.minutes(5)))
struct DHTKeyTests {
    @Test func distanceIsXorAndSymmetric() throws {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<50 {
            let a = try DHTKey(bytes: rng.bytes(32))
            let b = try DHTKey(bytes: rng.bytes(32))
            #expect(a.distance(to: b) == b.distance(to: a))
            #expect(a.distance(to: a).bytes.allSatisfy { $0 == 0 })
            #expect(a.distance(to: b).bytes == zip(a.bytes, b.bytes).map { $0 ^ $1 })
            #expect(a.commonPrefixLength(with: b) == a.distance(to: b).bytes.leadingZeroBits)
        }
    }

    @Test func nodeIDIsSHA256OfPeerIDBytes() throws {
        let peer = try PeerID("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
        // sha256 of the 38 peer ID bytes, computed independently with Python's hashlib.
        #expect(DHTKey(peer: peer).hex == "a9fb3b592b9e6cee5658eaf7de67433434163a081d97cc77e303b300c816251e")
    }

    @Test func randomKeyLandsInTheRequestedBucket() throws {
        let local = DHTKey(peer: Ed25519.PrivateKey().publicKey.peerID)
        for prefix in [0, 1, 7, 8, 9, 100, 255] {
            for _ in 0..<10 {
                #expect(local.commonPrefixLength(with: local.random(sharingPrefix: prefix)) == prefix)
            }
        }
    }

    @Test func closerComparesXorDistance() throws {
        let target = try DHTKey(bytes: [UInt8](repeating: 0, count: 32))
        let near = try DHTKey(bytes: [0x01] + [UInt8](repeating: 0, count: 31))
        let far = try DHTKey(bytes: [0x80] + [UInt8](repeating: 0, count: 31))
        #expect(target.isCloser(near, than: far))
        #expect(!target.isCloser(far, than: near))
        #expect(!target.isCloser(near, than: near))
        #expect(throws: DHTError.self) { try DHTKey(bytes: [1, 2, 3]) }
    }
}

extension [UInt8] {
    var leadingZeroBits: Int {
        var count = 0
        for byte in self {
            if byte == 0 {
                count += 8
                continue
            }
            return count + byte.leadingZeroBitCount
        }
        return count
    }
}
