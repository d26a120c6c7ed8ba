import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Testing
import Transport

@testable import Node

/// A node asks each peer that dials in where it listens (`/threads/id/1`) and keeps what it learns
/// in its peerstore. The answer comes from the peer, so it may be hostile.
@Suite(.timeLimit(.minutes(5))) struct IdentifyTests {
    /// A peer whose identify answer is `listen`.
    static func peer(answering listen: [IPLD]) -> ConnectionManager {
        var protocols = MuxProtocols()
        protocols.handleRequests(ThreadsNode.identifyProtocol) { _ in
            .single(try DagCBOR.encode(.map(["listen": .list(listen), "dht": .null])))
        }
        return ConnectionManager(transport: SecureTransport(identity: Ed25519.PrivateKey()), protocols: protocols)
    }

    /// Dials the node and waits until the node has the connection too (it registers an inbound
    /// connection a moment after the dialler sees it).
    static func connect(_ peer: ConnectionManager, to node: ThreadsNode, at address: Multiaddr) async throws {
        _ = try await peer.connect(address)
        for _ in 0..<1500 where await node.manager.connection(to: peer.localPeer) == nil {
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    static func tcp(_ host: String, _ port: Int) -> IPLD {
        .bytes(try! Multiaddr("/ip4/\(host)/tcp/\(port)").bytes)
    }

    @Test func aFloodedAnswerIsReadOnlyAsFarAsTheCapAndStoredAtTheDialledIP() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("identify-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let repo = try Repo.initialize(at: path)
        let node = ThreadsNode(repo: repo)
        let banner = try await node.start(listen: [Multiaddr("/ip4/127.0.0.1/tcp/0")])
        let address = try Multiaddr(String(banner[0].dropFirst("Listening on ".count)))
        let peerstore = Peerstore(database: repo.database)
        let cap = Peerstore.maxAddressesPerPeer

        // One address repeated past what is read, then 20,000 distinct ones: only the first
        // 4 × cap entries are looked at, so one address is kept, not sixteen of the rest.
        let repeater = Self.peer(
            answering: Array(repeating: Self.tcp("10.9.8.7", 1000), count: 4 * cap)
                + (0..<20_000).map { Self.tcp("10.9.8.7", 2000 + $0) }
        )
        try await Self.connect(repeater, to: node, at: address)
        await node.learnAddresses(of: repeater.localPeer)
        #expect(try peerstore.addresses(of: repeater.localPeer) == [Multiaddr("/ip4/127.0.0.1/tcp/1000")])

        // Garbage, non-TCP and port-less entries are skipped; of 100 good ones, `cap` are kept, each
        // once, all at the IP the peer connected from (its own idea of its host may be unreachable).
        let garbage: [IPLD] = [
            .string("/ip4/1.2.3.4/tcp/1"), .bytes([0xff, 0xff, 0xff]), .integer(7),
            .bytes(try Multiaddr("/ip4/10.9.8.7/udp/4006").bytes), .bytes(try Multiaddr("/ip4/10.9.8.7").bytes),
        ]
        let flooder = Self.peer(
            answering: garbage + [Self.tcp("10.9.8.7", 3000)] + (0..<100).map { Self.tcp("10.9.8.7", 3000 + $0) }
        )
        try await Self.connect(flooder, to: node, at: address)
        await node.learnAddresses(of: flooder.localPeer)
        let stored = try peerstore.addresses(of: flooder.localPeer)
        #expect(stored.count == cap)
        #expect(Set(stored).count == stored.count)
        #expect(stored.allSatisfy { $0.isTCP && $0.components.first?.valueString == "127.0.0.1" })
        #expect(Set(stored.map { $0.components[1].valueString }) == Set((0..<cap).map { "\(3000 + $0)" }))

        // Neither answer harmed the node: a well-behaved peer is still learned.
        let honest = Self.peer(answering: [Self.tcp("10.9.8.7", 4006)])
        try await Self.connect(honest, to: node, at: address)
        await node.learnAddresses(of: honest.localPeer)
        #expect(try peerstore.addresses(of: honest.localPeer) == [Multiaddr("/ip4/127.0.0.1/tcp/4006")])

        for peer in [repeater, flooder, honest] { await peer.shutdown() }
        await node.shutdown()
    }
}
