import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Testing
import ThreadsTestKit

@testable import DHT

@Suite("DHT over a simulated network", .timeLimit(.minutes(5)))
struct NetworkTests {
    @Test func lookupsFindTheBruteForceClosestNodes() async throws {
        let net = await SimulatedNetwork.make(count: 64)
        let keys = await net.nodes.asyncMap { $0.localContact }
        var exact = 0
        let trials = 30
        for trial in 0..<trials {
            let target = DHTKey(peer: Ed25519.PrivateKey().publicKey.peerID)
            let expected = keys.sorted { target.isCloser($0.key, than: $1.key) }.prefix(20).map(\.peer)
            let asker = net.nodes[(trial * 7 + 3) % net.nodes.count]
            let found = await asker.findNode(target).closest.map(\.peer)
            let asking = asker.localPeer
            // The asker never returns itself; compare with the others.
            let expectedOthers = keys.filter { $0.peer != asking }.sorted { target.isCloser($0.key, than: $1.key) }
                .prefix(20).map(\.peer)
            #expect(Set(found).isSubset(of: Set(keys.map(\.peer))))
            if found == expectedOthers { exact += 1 }
            #expect(found.first == expectedOthers.first, "closest node missed for target \(target)")
            _ = expected
        }
        #expect(exact >= trials * 9 / 10, "exact closest-20 in \(exact) of \(trials) lookups")
        await net.stop()
    }

    @Test func findsEveryLiveNodeWithAQuarterOfTheNetworkDead() async throws {
        let net = await SimulatedNetwork.make(count: 48)
        let dead = Set((0..<48).filter { $0 % 4 == 1 })
        for index in dead { net.network.disconnect(SimulatedNetwork.endpoint(index)) }
        var found = 0
        var tries = 0
        for index in 0..<48 where !dead.contains(index) && index % 3 == 0 {
            // Any live node other than the target asks.
            let asker = net.nodes[(index + 2) % 48 % 4 == 1 ? (index + 3) % 48 : (index + 2) % 48]
            let target = net.nodes[index].localPeer
            tries += 1
            if await asker.findNode(DHTKey(peer: target)).closest.contains(where: { $0.peer == target }) { found += 1 }
        }
        #expect(found == tries)
        await net.stop()
    }

    @Test func providersAreFoundFromAnyNode() async throws {
        let net = await SimulatedNetwork.make(count: 40)
        let cid = CID.v1(codec: Multicodec.raw, multihash: try Multihash.hash(Array("hello".utf8), using: .sha2_256))
        let address = try Multiaddr("/ip4/10.0.0.5/tcp/4006")
        let stored = await net.nodes[5].provide(cid, addresses: [address])
        #expect(stored >= 10)
        for asker in [net.nodes[0], net.nodes[17], net.nodes[39]] {
            let providers = await asker.findProviders(cid)
            #expect(providers.map(\.provider) == [net.nodes[5].localPeer])
            #expect(providers.first?.addresses == [address])
        }
        let other = CID.v1(codec: Multicodec.raw, multihash: try Multihash.hash(Array("nobody".utf8), using: .sha2_256))
        #expect(await net.nodes[3].findProviders(other).isEmpty)
        await net.stop()
    }

    @Test func peerRecordsAreFoundAndTheNewestWins() async throws {
        let net = await SimulatedNetwork.make(count: 30)
        let first = try Multiaddr("/ip4/10.9.9.9/tcp/4006")
        let second = try Multiaddr("/ip4/10.9.9.10/tcp/4006")
        #expect(await net.nodes[4].publishPeerRecord(addresses: [first]) >= 10)
        #expect(await net.nodes[20].findPeer(net.nodes[4].localPeer)?.addresses == [first])
        #expect(await net.nodes[4].publishPeerRecord(addresses: [second]) >= 10)
        // The peer itself is offline now: the newest copy held by the others must win.
        net.network.disconnect(SimulatedNetwork.endpoint(4))
        let record = await net.nodes[25].findPeer(net.nodes[4].localPeer)
        #expect(record?.addresses == [second])
        await net.stop()
    }

    @Test func serversOnlyStoreTheSendersOwnRecords() async throws {
        let net = await SimulatedNetwork.make(count: 3)
        let victim = Ed25519.PrivateKey()
        let server = net.nodes[1].localContact
        let forgedProvider = ProviderRecord(
            key: DHTKey(peer: victim.publicKey.peerID),
            addresses: [],
            issued: DHTNode.nowMilliseconds(),
            identity: victim
        )
        await #expect(throws: DHTError.remote("a node may only add itself as a provider")) {
            try await net.nodes[2].request(.addProvider(forgedProvider), to: server.endpoint, peer: server.peer)
        }
        let forgedPeer = PeerRecord(sequence: 1, addresses: [], identity: victim)
        await #expect(throws: DHTError.remote("a node may only store its own peer record")) {
            try await net.nodes[2].request(.putPeer(forgedPeer), to: server.endpoint, peer: server.peer)
        }
        #expect(await net.nodes[1].tableSummary().providerRecords == 0)
        await net.stop()
    }

    @Test func forgedReplayedStaleAndUnexpectedDatagramsAreDroppedAndCounted() async throws {
        let network = MemoryNetwork()
        let serverIdentity = Ed25519.PrivateKey()
        let server = DHTNode(
            identity: serverIdentity,
            socket: network.socket(at: SimulatedNetwork.endpoint(1)),
            options: SimulatedNetwork.fastOptions()
        )
        await server.start()
        let attacker = Ed25519.PrivateKey()
        let raw = network.socket(at: SimulatedNetwork.endpoint(2))
        var answers = raw.inbound.makeAsyncIterator()

        func ping(_ transaction: [UInt8], timestamp: UInt64 = DHTNode.nowMilliseconds()) -> [UInt8] {
            Envelope(transaction: transaction, sender: attacker.publicKey.peerID, timestamp: timestamp, message: .ping)
                .sealed(with: attacker)
        }
        let good = ping([1, 1, 1, 1, 1, 1, 1, 1])
        raw.send(good, to: server.localContact.endpoint)
        let first = try #require(await answers.next())
        #expect(try Envelope.open(first.bytes, limit: 4096).message == .pong(observed: raw.localEndpoint))

        raw.send(good, to: server.localContact.endpoint)  // replayed
        var forged = ping([2, 2, 2, 2, 2, 2, 2, 2])
        forged[forged.count - 1] ^= 1
        raw.send(forged, to: server.localContact.endpoint)
        raw.send(
            ping([3, 3, 3, 3, 3, 3, 3, 3], timestamp: DHTNode.nowMilliseconds() - 3_600_000),
            to: server.localContact.endpoint
        )
        raw.send([UInt8](repeating: 0xff, count: 5000), to: server.localContact.endpoint)
        raw.send([0xa1, 0x61], to: server.localContact.endpoint)
        // An answer nobody asked for.
        raw.send(
            Envelope(
                transaction: [9, 9, 9, 9, 9, 9, 9, 9],
                sender: attacker.publicKey.peerID,
                timestamp: 0,
                message: .stored
            )
            .sealed(with: attacker),
            to: server.localContact.endpoint
        )
        // A good request after all that still gets its answer: the node keeps serving.
        raw.send(ping([4, 4, 4, 4, 4, 4, 4, 4]), to: server.localContact.endpoint)
        let last = try #require(await answers.next())
        #expect(try Envelope.open(last.bytes, limit: 4096).transaction == [4, 4, 4, 4, 4, 4, 4, 4])
        let stats = await server.stats
        #expect(
            stats.dropped == [
                "replayed": 1, "bad-signature": 1, "stale": 1, "oversized": 1, "malformed": 1, "unexpected": 1,
            ]
        )
        #expect(stats.requestsAnswered == 2)
        await server.stop()
    }

    @Test func anAnswerFromAnotherPeerThanTheOneAskedIsIgnored() async throws {
        let network = MemoryNetwork()
        let asker = DHTNode(
            identity: Ed25519.PrivateKey(),
            socket: network.socket(at: SimulatedNetwork.endpoint(1)),
            options: SimulatedNetwork.fastOptions()
        )
        await asker.start()
        let impostor = Ed25519.PrivateKey()
        let raw = network.socket(at: SimulatedNetwork.endpoint(2))
        let expected = Ed25519.PrivateKey().publicKey.peerID
        let task = Task {
            try await asker.request(.ping, to: raw.localEndpoint, peer: expected)
        }
        var inbound = raw.inbound.makeAsyncIterator()
        let request = try Envelope.open(try #require(await inbound.next()).bytes, limit: 4096)
        raw.send(
            Envelope(
                transaction: request.transaction,
                sender: impostor.publicKey.peerID,
                timestamp: 0,
                message: .pong(observed: raw.localEndpoint)
            )
            .sealed(with: impostor),
            to: asker.localContact.endpoint
        )
        await #expect(throws: DHTError.self) { try await task.value }
        #expect(await asker.stats.dropped["unexpected"] == 1)
        await asker.stop()
    }

    @Test func aFullBucketEvictsItsOldestOnlyWhenThatOneIsDead() async throws {
        let network = MemoryNetwork()
        var options = SimulatedNetwork.fastOptions(k: 1)
        options.table.replacements = 4
        let hub = DHTNode(
            identity: Ed25519.PrivateKey(),
            socket: network.socket(at: SimulatedNetwork.endpoint(0)),
            options: options
        )
        await hub.start()
        // Nodes in the hub's bucket 0 (half of all keys).
        var members: [DHTNode] = []
        var index = 1
        while members.count < 3 {
            let node = DHTNode(
                identity: Ed25519.PrivateKey(),
                socket: network.socket(at: SimulatedNetwork.endpoint(index)),
                options: options
            )
            index += 1
            if hub.localKey.commonPrefixLength(with: node.localKey) == 0 {
                await node.start()
                members.append(node)
            }
        }
        try await members[0].ping(hub.localContact.multiaddr)
        #expect(await hub.table.contains(members[0].localPeer))
        // The oldest answers its ping: it stays, the newcomer waits as a replacement.
        try await members[1].ping(hub.localContact.multiaddr)
        // The hub pings the oldest; once that ping is answered, it is still the bucket's member.
        try await TestKit.waitUntil(timeout: .seconds(20)) {
            await hub.table.replacementContacts(inBucket: 0).contains { $0.peer == members[1].localPeer }
        }
        try await TestKit.waitUntil(timeout: .seconds(20)) { await hub.pingingOldest.isEmpty }
        #expect(await hub.table.contains(members[0].localPeer))
        #expect(!(await hub.table.contains(members[1].localPeer)))
        // The oldest dies: the next newcomer's arrival gets it evicted after a failed ping.
        await members[0].stop()
        try await members[2].ping(hub.localContact.multiaddr)
        try await TestKit.waitUntil(timeout: .seconds(20)) { !(await hub.table.contains(members[0].localPeer)) }
        #expect(!(await hub.table.contains(members[0].localPeer)))
        #expect(await hub.table.contains(members[2].localPeer))
        for node in members { await node.stop() }
        await hub.stop()
    }

    @Test func tableProvidersAndProvidedContentSurviveARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dht-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let net = await SimulatedNetwork.make(count: 10)
        let identity = Ed25519.PrivateKey()
        let database = try Database(path: directory)
        let network = net.network
        var node = DHTNode(
            identity: identity,
            socket: network.socket(at: SimulatedNetwork.endpoint(50)),
            database: database,
            options: SimulatedNetwork.fastOptions()
        )
        await node.start()
        await node.bootstrap([net.nodes[0].localContact.multiaddr])
        let cid = CID.v1(codec: Multicodec.raw, multihash: try Multihash.hash([1, 2, 3], using: .sha2_256))
        await node.provide(cid, addresses: [])
        let before = Set(await node.table.allContacts.map(\.peer))
        #expect(before.count == 10)
        await node.stop()

        node = DHTNode(
            identity: identity,
            socket: network.socket(at: SimulatedNetwork.endpoint(50)),
            database: database,
            options: SimulatedNetwork.fastOptions()
        )
        await node.start()
        #expect(Set(await node.table.allContacts.map(\.peer)) == before)
        let summary = await node.tableSummary()
        #expect(summary.provided == 1)
        #expect(summary.providerRecords == 1)
        await node.stop()
        database.close()
        await net.stop()
    }

    @Test func twoNodesTalkOverLoopbackUDP() async throws {
        let options = SimulatedNetwork.fastOptions()
        let a = DHTNode(
            identity: Ed25519.PrivateKey(),
            socket: try await UDPSocket.bind(try Multiaddr("/ip4/127.0.0.1/udp/0")),
            options: options
        )
        let b = DHTNode(
            identity: Ed25519.PrivateKey(),
            socket: try await UDPSocket.bind(try Multiaddr("/ip4/127.0.0.1/udp/0")),
            options: options
        )
        await a.start()
        await b.start()
        #expect(a.localContact.endpoint.port != 0)
        let reached = try await a.ping(b.localContact.multiaddr)
        #expect(reached.peer == b.localPeer)
        // A /p2p/ part that names someone else is not answered by that someone.
        let wrong = try b.localContact.endpoint.multiaddr.encapsulate(
            Multiaddr("/p2p/\(Ed25519.PrivateKey().publicKey.peerID)")
        )
        await #expect(throws: DHTError.self) { try await a.ping(wrong) }
        await a.stop()
        await b.stop()
    }

    @Test func twoNodesTalkOverIPv6LoopbackUDP() async throws {
        guard let a = try? await UDPSocket.bind(try Multiaddr("/ip6/::1/udp/0")) else { return }  // no IPv6 here
        let b = try await UDPSocket.bind(try Multiaddr("/ip6/::1/udp/0"))
        let nodes = [
            DHTNode(identity: Ed25519.PrivateKey(), socket: a), DHTNode(identity: Ed25519.PrivateKey(), socket: b),
        ]
        for node in nodes { await node.start() }
        #expect(try await nodes[0].ping(nodes[1].localContact.multiaddr).peer == nodes[1].localPeer)
        #expect(await nodes[1].table.contains(nodes[0].localPeer))
        for node in nodes { await node.stop() }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async -> T) async -> [T] {
        var out: [T] = []
        for element in self { out.append(await transform(element)) }
        return out
    }
}
