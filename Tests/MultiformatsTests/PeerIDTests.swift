import Multiformats
import Testing

/// libp2p peer-ID vectors (Tests/Fixtures/peer-id).
@Suite struct PeerIDTests {
    static func keys() throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for line in try Fixtures.lines("peer-id/keys.txt") {
            let parts = line.split(separator: " ")
            out[String(parts[0])] = Fixtures.hex(parts[1])
        }
        return out
    }

    @Test func ed25519PublicKeyVector() throws {
        let keys = try Self.keys()
        let protobuf = try #require(keys["ed25519-public-key"])
        #expect(Array(protobuf.prefix(4)) == PeerID.ed25519ProtobufPrefix)
        let fromProtobuf = try PeerID(publicKeyProtobuf: protobuf)
        let fromRaw = try PeerID(ed25519PublicKey: Array(protobuf.dropFirst(4)))
        #expect(fromProtobuf == fromRaw)
        #expect(fromRaw.multihash.code == Multicodec.identity)
        #expect(fromRaw.description.hasPrefix("12D3KooW"))
        #expect(fromRaw.ed25519PublicKey == Array(protobuf.dropFirst(4)))
        // The private key's protobuf ends with the same public key (seed || public).
        let privateKey = try #require(keys["ed25519-private-key"])
        #expect(Array(privateKey.suffix(32)) == Array(protobuf.suffix(32)))
    }

    @Test func largeKeysAreHashedWithSHA256() throws {
        let keys = try Self.keys()
        for name in ["rsa-public-key", "ecdsa-public-key"] {
            let key = try #require(keys[name])
            #expect(key.count > PeerID.maxInlineKeyLength)
            let peer = try PeerID(publicKeyProtobuf: key)
            #expect(peer.multihash.code == Multicodec.sha2_256)
            #expect(peer.description.hasPrefix("Qm"))
            #expect(peer.multihash.verify(key))
        }
        let secp = try #require(keys["secp256k1-public-key"])
        #expect(try PeerID(publicKeyProtobuf: secp).multihash.code == Multicodec.identity)  // 37 bytes
    }

    @Test func stringFormsNameTheSamePeer() throws {
        let groups = try Fixtures.text("peer-id/strings.txt")
            .components(separatedBy: "\n\n")
            .map { $0.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") } }
        for group in groups where !group.isEmpty {
            let peers = try group.map { try PeerID($0) }
            #expect(Set(peers).count == 1, "\(group)")
            let peer = peers[0]
            #expect(try PeerID(peer.cidString()) == peer)
            #expect(try PeerID(peer.cidString(base: .base32)) == peer)
            #expect(try PeerID(peer.description) == peer)
        }
        let cidForm = try PeerID("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe")
        #expect(cidForm.description == "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
        #expect(cidForm.cidString(base: .base32) == "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe")
    }

    @Test func rejectsWhatIsNotAPeerID() {
        // A dag-pb CID, a non-key codec, a truncated ID, an empty string.
        for text in [
            "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "", "12D3KooW",
            "bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae",
            "QmxoHT6iViN5xAjoz1VZ553cL31U9F94ht3QvWR1FrEbZY",
        ] {
            #expect(throws: MultiformatsError.self, "\(text)") { try PeerID(text) }
        }
        #expect(throws: MultiformatsError.self) { try PeerID(ed25519PublicKey: [1, 2, 3]) }
    }
}
