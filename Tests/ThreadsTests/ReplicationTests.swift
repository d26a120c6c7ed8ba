import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Testing
import ThreadsTestKit
import Transport

@testable import Threads

/// A node with a logstore, a connection manager on loopback and a replicator.
final class ThreadsTestNode: @unchecked Sendable {
    let store: TempStore
    let manager: ConnectionManager
    let replicator: Replicator
    let address: Multiaddr
    var peer: PeerID { manager.localPeer }
    var logstore: Logstore { store.logstore }

    /// `rewrite` changes each replication request before this node serves it, `rewriteReply` each
    /// answer before it is sent (a misbehaving peer); `hold` may keep a request waiting first.
    init(
        fetchBlock: Replicator.BlockFetcher? = nil,
        rewrite: (@Sendable ([UInt8]) -> [UInt8])? = nil,
        rewriteReply: (@Sendable ([UInt8]) -> [UInt8])? = nil,
        hold: (@Sendable ([UInt8]) async -> Void)? = nil
    ) async throws {
        store = try TempStore()
        var protocols = MuxProtocols()
        let slot = Slot<Replicator>()
        Replicator.register(in: &protocols, slot: slot)
        if rewrite != nil || rewriteReply != nil || hold != nil {
            protocols.handleRequests(Replicator.protocolName) { request in
                guard let replicator = slot.value else { throw ThreadsError.notAllowed("not ready") }
                await hold?(request.payload)
                let payload = rewrite?(request.payload) ?? request.payload
                let reply = try await replicator.serve(payload, from: request.remotePeer)
                return .single(rewriteReply?(reply) ?? reply)
            }
        }
        manager = ConnectionManager(transport: SecureTransport(identity: Ed25519.PrivateKey()), protocols: protocols)
        replicator = Replicator(
            logstore: store.logstore,
            manager: manager,
            pullInterval: .seconds(3600),
            fetchBlock: fetchBlock
        )
        slot.value = replicator
        address = try (try await manager.listen(on: try Multiaddr("/ip4/127.0.0.1/tcp/0"))).encapsulate(
            Multiaddr("/p2p/\(manager.localPeer)")
        )
        await replicator.start()
    }

    /// Appends and pushes, as the daemon does.
    @discardableResult
    func write(_ text: String, to thread: ThreadID) async throws -> ThreadRecord {
        let (record, blocks) = try logstore.append(Array(text.utf8), to: thread)
        await replicator.push(blocks, thread: thread)
        return record
    }

    /// Appends every body in one burst (the appends share synced writes).
    func appendDurably(_ bodies: [String], to thread: ThreadID) async throws {
        let appends = try bodies.map { try logstore.beginAppend(Array($0.utf8), to: thread) }
        for append in appends { try await append.durable() }
    }

    /// Holds `thread` with `key`, takes `other` as a member and connects to it.
    func join(_ thread: ThreadID, key: ThreadKey, through other: ThreadsTestNode) async throws {
        try logstore.addThread(thread, key: key)
        try logstore.addMember(other.peer, to: thread)
        _ = try await manager.connect(other.address)
    }

    /// Every body this node can read in the thread, sorted.
    func bodies(_ thread: ThreadID) throws -> [String] {
        var out: [String] = []
        for log in try logstore.heads(of: thread).keys {
            for (_, entry) in try logstore.entries(of: log, in: thread) {
                out.append(String(decoding: try logstore.read(entry, in: thread).body, as: UTF8.self))
            }
        }
        return out.sorted()
    }

    /// The bodies of the thread's one log as stored, in log order, each after its sequence number
    /// (`"0:…"`, `"1:…"`).
    func logBodies(_ thread: ThreadID) throws -> [String] {
        guard let log = try logstore.heads(of: thread).keys.first else { return [] }
        return try logstore.entries(of: log, in: thread).map { sequence, entry in
            "\(sequence):" + String(decoding: try logstore.read(entry, in: thread).body, as: UTF8.self)
        }
    }

    func recordCount(_ thread: ThreadID) throws -> Int {
        try logstore.heads(of: thread).values.reduce(0) { $0 + Int($1.sequence) + 1 }
    }

    func shutdown() async {
        await replicator.stop()
        await manager.shutdown()
    }
}

@Suite("Replication on loopback", .serialized, .timeLimit(.minutes(5)))
struct ReplicationTests {
    @Test func membersPullOnConnectReceivePushesAndCatchUp() async throws {
        let a = try await ThreadsTestNode()
        let b = try await ThreadsTestNode()
        let c = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        for n in 0..<3 { try await a.write("a\(n)", to: thread) }
        // b and c know the key and that a is a member (what an invite gives them).
        for node in [b, c] {
            try node.logstore.addThread(thread, key: key)
            try node.logstore.addMember(a.peer, to: thread, addresses: [a.address])
        }
        _ = try await b.manager.connect(a.address)
        #expect(await TestKit.eventually { try b.recordCount(thread) == 3 })
        // a now knows b as a member (b proved it): a's next write is pushed at once.
        try await a.write("a3", to: thread)
        #expect(await TestKit.eventually { try b.bodies(thread) == ["a0", "a1", "a2", "a3"] })
        // Two writers at once; b's records reach a by push.
        async let fromA: Void = { for n in 4..<8 { try await a.write("a\(n)", to: thread) } }()
        async let fromB: Void = { for n in 0..<4 { try await b.write("b\(n)", to: thread) } }()
        _ = try await (fromA, fromB)
        let expected = (0..<8).map { "a\($0)" } + (0..<4).map { "b\($0)" }
        #expect(await TestKit.eventually { try a.bodies(thread) == expected.sorted() })
        #expect(await TestKit.eventually { try b.bodies(thread) == expected.sorted() })
        // c was offline through all of it and catches up fully on connecting.
        _ = try await c.manager.connect(a.address)
        #expect(await TestKit.eventually { try c.bodies(thread) == expected.sorted() })
        for node in [a, b, c] { await node.shutdown() }
    }

    @Test func aReplicaKeepsCiphertextAndAStrangerGetsNothing() async throws {
        let a = try await ThreadsTestNode()
        let replica = try await ThreadsTestNode()
        let stranger = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        for n in 0..<5 { try await a.write("secret \(n)", to: thread) }
        try await replica.join(thread, key: key.serviceOnly, through: a)
        #expect(await TestKit.eventually { try replica.recordCount(thread) == 5 })
        #expect(throws: ThreadsError.self) { try replica.bodies(thread) }

        // Someone with a wrong key for the same thread ID cannot read heads or records.
        try await stranger.join(thread, key: ThreadKey(), through: a)
        #expect(await stranger.replicator.pull(thread, from: a.peer) == 0)
        #expect(try stranger.recordCount(thread) == 0)
        #expect(!(try a.logstore.members(of: thread)).contains(stranger.peer))
        for node in [a, replica, stranger] { await node.shutdown() }
    }

    @Test func aLongLogIsFetchedInBatches() async throws {
        let a = try await ThreadsTestNode()
        let b = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        let count = Replicator.batchSize * 2 + 7
        for n in 0..<count { try a.logstore.append(Array("r\(n)".utf8), to: thread) }
        try await b.join(thread, key: key, through: a)
        #expect(await TestKit.eventually { try b.recordCount(thread) == count })
        for node in [a, b] { await node.shutdown() }
    }

    /// More batches than the pull keeps in flight: every record arrives, stored in log order.
    @Test func aPullLongerThanItsPipelineStoresEveryBatchInOrder() async throws {
        let a = try await ThreadsTestNode()
        let b = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        let count = Replicator.batchSize * (Replicator.pullDepth + 2) + 5
        let bodies = (0..<count).map { "r\($0)" }
        try await a.appendDurably(bodies, to: thread)
        try await b.join(thread, key: key, through: a)
        _ = await b.replicator.pull(thread, from: a.peer)
        #expect(try b.recordCount(thread) == count)
        #expect(try b.logBodies(thread) == bodies.enumerated().map { "\($0.offset):\($0.element)" })
        for node in [a, b] { await node.shutdown() }
    }

    /// A peer that answers each batch from a little before where it was asked (overlapping
    /// ranges): the pipelined pull notices the batches no longer line up, starts again from its
    /// head, and still ends with every record.
    @Test func aPullRestartsWhenAnswersOverlapAndStillGetsEverything() async throws {
        let a = try await ThreadsTestNode(rewrite: { payload in
            guard var fields = (try? DagCBOR.decode(payload))?.mapValue, fields["op"]?.stringValue == "records",
                let from = fields["from"]?.integerValue?.argument, from >= 100
            else { return payload }
            fields["from"] = .integer(IPLDInteger(from - 10))
            return (try? DagCBOR.encode(.map(fields))) ?? payload
        })
        let b = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        let count = Replicator.batchSize * (Replicator.pullDepth + 2) + 5
        try await a.appendDurably((0..<count).map { "r\($0)" }, to: thread)
        try await b.join(thread, key: key, through: a)
        _ = await b.replicator.pull(thread, from: a.peer)
        #expect(try b.recordCount(thread) == count)
        for node in [a, b] { await node.shutdown() }
    }

    /// The requests for the next batches go out before the answers to the earlier ones arrive,
    /// so the receiver's checks are not left waiting for each round trip: the source holds its
    /// first answer back until another request arrives (or 10 s pass, when asked one at a time).
    @Test func aPullAsksForTheNextBatchesBeforeTheAnswersArrive() async throws {
        let gate = AheadGate()
        let a = try await ThreadsTestNode(hold: { await gate.arrive($0) })
        let b = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        let count = Replicator.batchSize * (Replicator.pullDepth + 1) + 5
        try await a.appendDurably((0..<count).map { "r\($0)" }, to: thread)
        try await b.join(thread, key: key, through: a)
        _ = await b.replicator.pull(thread, from: a.peer)
        #expect(try b.recordCount(thread) == count)
        #expect(await gate.askedAhead)
        for node in [a, b] { await node.shutdown() }
    }

    /// Answers cut short by their size cap (bodies of 12 KiB travel inline, and an answer stops
    /// near 2 MiB): the pull goes on from where each answer ended and stores every record, in order.
    @Test func answersCutShortAreFollowedFromWhereTheyEnd() async throws {
        let a = try await ThreadsTestNode()
        let b = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        let filler = String(repeating: "y", count: 12 << 10)
        let bodies = (0..<400).map { "\($0):" + filler }
        try await a.appendDurably(bodies, to: thread)
        try await b.join(thread, key: key, through: a)
        _ = await b.replicator.pull(thread, from: a.peer)
        #expect(try b.logBodies(thread) == bodies.enumerated().map { "\($0.offset):\($0.element)" })
        for node in [a, b] { await node.shutdown() }
    }

    @Test func largeBodiesTravelByLinkThroughTheBlockFetcher() async throws {
        let a = try await ThreadsTestNode()
        let fetched = FetchCounter()
        let b = try await ThreadsTestNode.fetching(from: a, counting: fetched)
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        let big = String(repeating: "x", count: 100_000)
        try await a.write(big, to: thread)
        try await a.write("small", to: thread)
        try await b.join(thread, key: key, through: a)
        #expect(await TestKit.eventually { try b.bodies(thread) == [big, "small"].sorted() })
        #expect(fetched.count == 1)
        // Pushed records do the same.
        try a.logstore.addMember(b.peer, to: thread)
        try await a.write(big + "2", to: thread)
        #expect(await TestKit.eventually { try b.recordCount(thread) == 3 })
        #expect(fetched.count == 2)
        // Each block stored and counted once, fetched bodies too.
        #expect(try b.logstore.blockstore.count == 12)
        #expect(try b.logstore.logstoreBlockCount() == 12)
        for node in [a, b] { await node.shutdown() }
    }

    @Test func aRecordThatDoesNotCheckOutNeverHasItsBodyFetched() async throws {
        // a's answers carry records whose sealed bytes were tampered with (one flipped bit).
        let a = try await ThreadsTestNode(rewriteReply: { reply in
            guard var fields = (try? DagCBOR.decode(reply))?.mapValue, let records = fields["records"]?.listValue
            else { return reply }
            fields["records"] = .list(
                records.map { item in
                    guard var blocks = item.listValue, var record = blocks.first?.bytesValue else { return item }
                    record[record.count / 2] ^= 0x01
                    blocks[0] = .bytes(record)
                    return .list(blocks)
                }
            )
            return (try? DagCBOR.encode(.map(fields))) ?? reply
        })
        let fetched = FetchCounter()
        let b = try await ThreadsTestNode.fetching(from: a, counting: fetched)
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        try a.logstore.append(Array(String(repeating: "y", count: 100_000).utf8), to: thread)
        try await b.join(thread, key: key, through: a)
        for _ in 0..<3 { _ = await b.replicator.pull(thread, from: a.peer) }
        #expect(fetched.count == 0)
        #expect(try b.recordCount(thread) == 0)
        #expect(try b.logstore.blockstore.count == 0)
        for node in [a, b] { await node.shutdown() }
    }
}

/// Holds the first `records` request a node gets until a second one arrives, or 10 s pass.
actor AheadGate {
    private var held: CheckedContinuation<Void, Never>?
    private var arrived = 0
    /// Whether a second request came while the first was held, unanswered.
    private(set) var askedAhead = false

    func arrive(_ payload: [UInt8]) async {
        guard (try? DagCBOR.decode(payload))?.mapValue?["op"]?.stringValue == "records" else { return }
        arrived += 1
        if arrived == 1 {
            Task {
                try? await Task.sleep(for: .seconds(10))
                self.release()
            }
            await withCheckedContinuation { held = $0 }
        } else if held != nil {
            askedAhead = true
            release()
        }
    }

    private func release() {
        held?.resume()
        held = nil
    }
}

extension ThreadsTestNode {
    /// A node whose block fetcher, standing in for the exchange, reads `source`'s store and counts
    /// each fetch.
    static func fetching(from source: ThreadsTestNode, counting fetched: FetchCounter) async throws
        -> ThreadsTestNode
    {
        let blocks = source.logstore.blockstore
        return try await ThreadsTestNode(fetchBlock: { cid in
            fetched.add()
            guard let bytes = try blocks.get(cid) else { throw ThreadsError.store("no \(cid)") }
            return bytes
        })
    }
}

final class FetchCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
}

@Suite("Replication gaps", .serialized, .timeLimit(.minutes(5)))
struct ReplicationGapTests {
    @Test func aPushAfterAGapStartsAPullThatFillsIt() async throws {
        let a = try await ThreadsTestNode()
        let b = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        try b.logstore.addThread(thread, key: key)
        // b and a know each other, but b misses a's first records (written before they met).
        for n in 0..<3 { try a.logstore.append(Array("early \(n)".utf8), to: thread) }
        try a.logstore.addMember(b.peer, to: thread)
        try b.logstore.addMember(a.peer, to: thread)
        _ = try await a.manager.connect(b.address)
        // The pull on connect may already run; either way a push with a gap must end complete.
        try await a.write("late", to: thread)
        #expect(await TestKit.eventually { try b.recordCount(thread) == 4 })
        for node in [a, b] { await node.shutdown() }
    }
}
