import Foundation
import Multiformats
import Sodium
import Store
import Testing

@testable import Transport

@Suite(.timeLimit(.minutes(5))) struct ConnectionManagerTests {
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

    /// A dial still under way when the node shuts down (its handshake held up in a relay) and
    /// completing only after `shutdown` returned leaves no connection: it is closed at once and the
    /// dial fails with `shutDown`. Before, it was registered and kept open (keep-alive pings hold it)
    /// with nobody left to close it. Connecting after shutdown fails too.
    @Test(.timeLimit(.minutes(2))) func aDialCompletingAfterShutdownLeavesNoConnection() async throws {
        let (a, _) = try await Self.node()
        let (b, bAddress) = try await Self.node()
        let port = try #require(bAddress.components[1].valueString.flatMap { Int($0) })
        let relay = try HoldingRelay(to: port)
        defer { relay.stop() }
        let dial = Task {
            try await a.connect(Multiaddr("/ip4/127.0.0.1/tcp/\(relay.port)/p2p/\(b.localPeer)"))
        }
        // A's first handshake message sits in the relay: the dial is connected and waiting for B.
        try #require(try await Self.eventually { relay.isHolding })
        await a.shutdown()
        relay.release()
        await #expect(throws: TransportError.shutDown) { _ = try await dial.value }
        let closed = try await Self.eventually {
            let left = await a.runningConnections
            let right = await b.runningConnections
            let peers = await b.connectedPeers
            return left == 0 && right == 0 && peers.isEmpty
        }
        #expect(closed, "a connection dialled before shutdown stays open")
        await #expect(throws: TransportError.shutDown) { _ = try await a.connect(bAddress) }
        await b.shutdown()
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

    /// One IPv6 host commonly holds a whole /64: the per-IP limit counts /64s, so addresses that
    /// differ only in their last 64 bits share one allowance. IPv4 counts whole addresses, and an
    /// IPv4-mapped IPv6 address counts as its IPv4 address.
    @Test func thePerIPLimitCountsIPv6ByItsSlash64() throws {
        func key(_ text: String) throws -> String? { ConnectionManager.limitKey(try Multiaddr(text)) }
        #expect(try key("/ip6/2001:db8:1:2::1/tcp/1") == key("/ip6/2001:db8:1:2:ffff:ffff:ffff:ffff/tcp/9"))
        #expect(try key("/ip6/2001:db8:1:2::1/tcp/1") != key("/ip6/2001:db8:1:3::1/tcp/1"))
        #expect(try key("/ip4/10.0.0.1/tcp/1") != key("/ip4/10.0.0.2/tcp/1"))
        #expect(try key("/ip4/10.0.0.1/tcp/1") == key("/ip4/10.0.0.1/tcp/2"))
        #expect(try key("/ip6/::ffff:10.0.0.1/tcp/1") == key("/ip4/10.0.0.1/tcp/1"))
        #expect(try key("/ip6/::ffff:10.0.0.1/tcp/1") != key("/ip6/::ffff:10.0.0.2/tcp/1"))
        #expect(try key("/ip6/2001:db8:1:2::1/tcp/1") == "2001:db8:1:2::/64")
        #expect(ConnectionManager.limitKey(nil) == nil)
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

/// A TCP relay on loopback for one connection: it accepts the client and reads what it sends
/// first, then holds it until `release()`; only then does it connect to `target` on loopback, pass
/// on what it holds and copy bytes both ways. It keeps a dial's handshake under way for as long
/// as a test likes. Blocking sockets on threads of its own.
final class HoldingRelay: @unchecked Sendable {
    #if canImport(Darwin)
        private static let streamType = SOCK_STREAM
        private static let sendFlags: Int32 = 0
    #else
        private static let streamType = Int32(SOCK_STREAM.rawValue)
        private static let sendFlags = Int32(MSG_NOSIGNAL)
    #endif

    /// The port the relay listens on (127.0.0.1).
    let port: Int
    private let target: Int
    private let listener: Int32
    private let lock = NSLock()
    private var sockets: [Int32] = []
    private var holding = false
    private var stopped = false
    private let released = DispatchSemaphore(value: 0)
    private let threads = DispatchGroup()

    init(to target: Int) throws {
        let fd = socket(AF_INET, Self.streamType, 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0, listen(fd, 4) == 0 else {
            close(fd)
            throw POSIXError(.EIO)
        }
        self.target = target
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        spawn { self.serve() }
    }

    /// Whether the client's first bytes have arrived and are held.
    var isHolding: Bool { lock.withLock { holding } }

    /// Lets the held connection through.
    func release() { released.signal() }

    /// Closes every socket once the relay's threads have ended.
    func stop() {
        let open = lock.withLock {
            stopped = true
            return sockets
        }
        released.signal()
        for fd in [listener] + open { shutdown(fd, Int32(SHUT_RDWR)) }
        _ = threads.wait(timeout: .now() + 10)
        for fd in [listener] + open { close(fd) }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
            address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func spawn(_ body: @escaping @Sendable () -> Void) {
        threads.enter()
        Thread {
            body()
            self.threads.leave()
        }.start()
    }

    /// Keeps `fd` to be closed by `stop`; false (and `fd` closed) once stopped.
    private func track(_ fd: Int32) -> Bool {
        #if canImport(Darwin)
            // A send to a peer that hung up fails instead of raising SIGPIPE (MSG_NOSIGNAL elsewhere).
            var on: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, socklen_t(MemoryLayout<Int32>.size))
        #endif
        let kept = lock.withLock {
            if !stopped { sockets.append(fd) }
            return !stopped
        }
        if !kept { close(fd) }
        return kept
    }

    private func serve() {
        let client = accept(listener, nil, nil)
        guard client >= 0, track(client) else { return }
        var first = [UInt8](repeating: 0, count: 1 << 16)
        let count = recv(client, &first, first.count, 0)
        guard count > 0 else { return }
        lock.withLock { holding = true }
        released.wait()
        let server = socket(AF_INET, Self.streamType, 0)
        guard server >= 0, track(server) else { return }
        var address = Self.loopback(port: target)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0, Self.sendAll(server, first[0..<count]) else { return }
        spawn { Self.copy(from: server, to: client) }
        Self.copy(from: client, to: server)
    }

    private static func sendAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        var rest = bytes
        while !rest.isEmpty {
            let sent = rest.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, sendFlags) }
            guard sent > 0 else { return false }
            rest = rest.dropFirst(sent)
        }
        return true
    }

    private static func copy(from source: Int32, to sink: Int32) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = recv(source, &buffer, buffer.count, 0)
            guard count > 0, sendAll(sink, buffer[0..<count]) else { break }
        }
        shutdown(sink, Int32(SHUT_WR))
    }
}
