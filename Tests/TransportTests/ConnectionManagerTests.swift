import Foundation
import Multiformats
import Sodium
import Store
import Testing

@testable import Transport

@Suite struct ConnectionManagerTests {
    static func protocols() -> MuxProtocols {
        var p = MuxProtocols()
        p.handleRequests("/threads/echo/1") { .single($0.payload) }
        return p
    }

    static func node(limits: ConnectionManager.Limits = ConnectionManager.Limits(), peerstore: Peerstore? = nil)
        async throws -> (ConnectionManager, Multiaddr)
    {
        let manager = ConnectionManager(
            transport: SecureTransport(identity: Ed25519.PrivateKey()),
            protocols: protocols(),
            limits: limits,
            peerstore: peerstore
        )
        let bound = try await manager.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
        return (manager, try bound.encapsulate(Multiaddr("/p2p/\(manager.localPeer)")))
    }

    /// Polls until `condition` holds (or about fifteen seconds pass: a loaded test run is slow).
    static func eventually(_ condition: () async -> Bool) async throws -> Bool {
        for _ in 0..<1500 {
            if await condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return await condition()
    }

    @Test func oneConnectionPerPeerWithEvents() async throws {
        let (a, _) = try await Self.node()
        let (b, bAddress) = try await Self.node()
        let aEvents = await a.events()
        let bEvents = await b.events()
        let first = try await a.connect(bAddress)
        let second = try await a.connect(to: b.localPeer)
        #expect(first === second)
        #expect(try await first.request("/threads/echo/1", [1]) == [1])
        var aIterator = aEvents.makeAsyncIterator()
        var bIterator = bEvents.makeAsyncIterator()
        #expect(await aIterator.next() == .connected(b.localPeer, inbound: false))
        #expect(await bIterator.next() == .connected(a.localPeer, inbound: true))
        await a.disconnect(b.localPeer)
        #expect(await aIterator.next() == .disconnected(b.localPeer))
        #expect(await bIterator.next() == .disconnected(a.localPeer))
        await a.shutdown()
        await b.shutdown()
    }

    /// A node that sees connections come and go keeps nothing of the ones that ended.
    @Test func endedConnectionsLeaveNothingBehind() async throws {
        let (a, _) = try await Self.node()
        let (b, bAddress) = try await Self.node()
        for round in 0..<20 {
            let connection = try await a.connect(bAddress)
            #expect(try await connection.request("/threads/echo/1", [UInt8(round)]) == [UInt8(round)])
            await a.disconnect(b.localPeer)
            #expect(try await Self.eventually { await a.connection(to: b.localPeer) == nil })
        }
        let drained = try await Self.eventually {
            let left = await a.runningConnections
            let right = await b.runningConnections
            return left == 0 && right == 0
        }
        #expect(drained)
        await a.shutdown()
        await b.shutdown()
    }

    /// A peer that comes back (same identity, a new process) while the other side still holds its
    /// old connection, as after a power cut, gets through at once: the new connection replaces
    /// the old one, and the other side reports the change. `atOnce`: it comes back within the
    /// window in which two connections could be a simultaneous dial; both were dialled by the
    /// same side, so they are not (before, the new one was closed and the dead one kept).
    @Test(arguments: [false, true]) func aReturningPeerReplacesItsOldConnection(atOnce: Bool) async throws {
        var limits = ConnectionManager.Limits()
        if !atOnce { limits.collapseWindow = .milliseconds(200) }
        func answering(_ value: UInt8) -> MuxProtocols {
            var protocols = MuxProtocols()
            protocols.handleRequests("/threads/which/1") { _ in .single([value]) }
            return protocols
        }
        let identity = Ed25519.PrivateKey()
        let before = ConnectionManager(
            transport: SecureTransport(identity: identity),
            protocols: answering(1),
            limits: limits
        )
        let (b, bAddress) = try await Self.node(limits: limits)
        let events = await b.events()
        _ = try await before.connect(bAddress)
        #expect(try await Self.eventually { await b.connection(to: identity.publicKey.peerID) != nil })
        if !atOnce { try await Task.sleep(for: .milliseconds(300)) }

        // The old process is left as it is: its connection stays open, as a dead peer's would.
        let after = ConnectionManager(
            transport: SecureTransport(identity: identity),
            protocols: answering(2),
            limits: limits
        )
        let connection = try await after.connect(bAddress)
        #expect(try await connection.request("/threads/echo/1", [9]) == [9])
        let current = try #require(await b.connection(to: identity.publicKey.peerID))
        #expect(try await current.request("/threads/which/1", []) == [2])
        var iterator = events.makeAsyncIterator()
        #expect(await iterator.next() == .connected(identity.publicKey.peerID, inbound: true))
        #expect(await iterator.next() == .disconnected(identity.publicKey.peerID))
        #expect(await iterator.next() == .connected(identity.publicKey.peerID, inbound: true))
        await after.shutdown()
        await before.shutdown()
        await b.shutdown()
    }

    @Test func simultaneousDialsCollapseToOneConnection() async throws {
        for _ in 0..<5 {
            let (a, aAddress) = try await Self.node()
            let (b, bAddress) = try await Self.node()
            async let fromA = a.connect(bAddress)
            async let fromB = b.connect(aAddress)
            _ = try await (fromA, fromB)
            // Both sides settle on the same single connection, and it works both ways.
            let settled = try await Self.eventually {
                let fromA = await a.connectedPeers
                let fromB = await b.connectedPeers
                return fromA == [b.localPeer] && fromB == [a.localPeer]
            }
            #expect(settled)
            try await Task.sleep(for: .milliseconds(100))
            let ab = try #require(await a.connection(to: b.localPeer))
            let ba = try #require(await b.connection(to: a.localPeer))
            #expect(try await ab.request("/threads/echo/1", [2]) == [2])
            #expect(try await ba.request("/threads/echo/1", [3]) == [3])
            await a.shutdown()
            await b.shutdown()
        }
    }

    @Test func perIPLimitRefusesExtraInboundConnections() async throws {
        var limits = ConnectionManager.Limits()
        limits.maxPerIP = 1
        let (server, address) = try await Self.node(limits: limits)
        let (first, _) = try await Self.node()
        let (second, _) = try await Self.node()
        _ = try await first.connect(address)
        _ = try? await second.connect(address)
        // The second connection is accepted by TCP and Noise, then dropped by the limit.
        #expect(try await Self.eventually { await second.connectedPeers.isEmpty })
        #expect(await server.connectedPeers == [first.localPeer])
        for node in [server, first, second] { await node.shutdown() }
    }

    @Test func failingPeersAreBackedOff() async throws {
        // A backoff far longer than a loaded machine takes between the two dials below.
        var limits = ConnectionManager.Limits()
        limits.backoffBase = .seconds(60)
        let (a, _) = try await Self.node(limits: limits)
        let ghost = Ed25519.PrivateKey().publicKey.peerID
        // Port 1 on loopback: nothing listens there.
        let address = try Multiaddr("/ip4/127.0.0.1/tcp/1/p2p/\(ghost)")
        await #expect(throws: (any Error).self) { _ = try await a.connect(address) }
        do {
            _ = try await a.connect(address)
            Issue.record("dialled again during backoff")
        } catch let error as TransportError {
            guard case .backoff(let peer, _) = error else { throw error }
            #expect(peer == ghost)
        }
        let stranger = Ed25519.PrivateKey().publicKey.peerID
        await #expect(throws: TransportError.noAddresses(stranger)) { _ = try await a.connect(to: stranger) }
        await a.shutdown()
    }

    /// Each failing peer is remembered for its backoff; peers whose wait ran out long ago are
    /// forgotten once many are remembered, so one-off peer IDs do not pile up.
    @Test func longExpiredFailuresAreForgotten() async throws {
        var limits = ConnectionManager.Limits()
        limits.backoffBase = .milliseconds(1)
        limits.backoffMax = .milliseconds(1)
        limits.maxRememberedFailures = 4
        let (a, _) = try await Self.node(limits: limits)
        for _ in 0..<20 {
            let ghost = Ed25519.PrivateKey().publicKey.peerID
            await #expect(throws: (any Error).self) {
                _ = try await a.connect(Multiaddr("/ip4/127.0.0.1/tcp/1/p2p/\(ghost)"))
            }
            // Past the wait and the longest backoff after it.
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(await a.rememberedFailures <= 4)
        await a.shutdown()
    }

    @Test func peerstoreRemembersAddressesAcrossRestarts() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("peerstore-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (b, bAddress) = try await Self.node()
        do {
            let database = try Database(path: dir)
            let (a, _) = try await Self.node(peerstore: Peerstore(database: database))
            _ = try await a.connect(bAddress)
            #expect(try Peerstore(database: database).addresses(of: b.localPeer) == [bAddress.withoutPeerID!])
            await a.shutdown()
            database.close()
        }
        // A restarted node finds the peer by its ID alone.
        let database = try Database(path: dir)
        let (again, _) = try await Self.node(peerstore: Peerstore(database: database))
        let connection = try await again.connect(to: b.localPeer)
        #expect(try await connection.request("/threads/echo/1", [5]) == [5])
        #expect(try Peerstore(database: database).peers() == [b.localPeer])
        await again.shutdown()
        await b.shutdown()
    }
    /// Each identity that connects leaves its addresses; only the most recently added peers are
    /// kept, across restarts too, so made-up identities cannot fill the disk.
    @Test func peerstoreKeepsTheMostRecentlyAddedPeers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("peerstore-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let database = try Database(path: dir)
        defer { database.close() }
        let peers = (0..<6).map { _ in Ed25519.PrivateKey().publicKey.peerID }
        let address = try Multiaddr("/ip4/10.0.0.1/tcp/4006")
        let store = Peerstore(database: database, maxPeers: 3)
        for peer in peers.prefix(3) { try store.add([address], for: peer) }
        try store.add([address], for: peers[0])  // seen again: now the most recent
        try store.add([address], for: peers[3])
        try store.add([address], for: peers[4])
        #expect(Set(try store.peers()) == [peers[0], peers[3], peers[4]])
        #expect(try store.addresses(of: peers[1]).isEmpty)
        // After a restart the stored peers count as older than any added since.
        let restarted = Peerstore(database: database, maxPeers: 3)
        try restarted.add([address], for: peers[5])
        let kept = Set(try restarted.peers())
        #expect(kept.count == 3 && kept.contains(peers[5]))
        try restarted.remove(peers[5])
        try restarted.add([address], for: peers[1])
        #expect(Set(try restarted.peers()) == kept.subtracting([peers[5]]).union([peers[1]]))
    }
}
