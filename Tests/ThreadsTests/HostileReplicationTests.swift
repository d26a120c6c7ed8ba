import DagCBOR
import Foundation
import Multiformats
import Sodium
import Synchronization
import Testing
import ThreadsTestKit

@testable import Threads

/// Replication messages a peer can send, mangled every way: the node answers or refuses each one,
/// never crashes, and keeps its data intact; a puller fed mangled answers stores only records that
/// check out.
@Suite("Hostile replication messages", .serialized, .timeLimit(.minutes(5)))
struct HostileReplicationTests {
    @Test(.timeLimit(.minutes(2))) func mangledRequestsAndPushesAreRefusedWithoutHarm() async throws {
        let a = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        for n in 0..<5 { try await a.write("a\(n)", to: thread) }
        let log = try a.logstore.ownLogKey(in: thread).publicKey.peerID
        // Another writer's record, new to a: what a push carries.
        let writer = try TempStore()
        try writer.logstore.addThread(thread, key: key)
        let (_, blocks) = try writer.logstore.append(Array("w0".utf8), to: thread)

        let member = Ed25519.PrivateKey().publicKey.peerID
        let proof = IPLD.bytes(Replicator.proof(thread: thread, key: key, peer: member))
        let seeds: [[UInt8]] = try [
            ["op": .string("heads")],
            ["op": .string("records"), "log": .bytes(log.bytes), "from": .integer(0)],
            ["op": .string("records"), "log": .bytes(log.bytes), "from": .integer(3)],
            ["op": .string("push"), "blocks": Replicator.wire(blocks.all)],
        ].map { fields in
            var map = fields
            map["thread"] = .bytes(thread.bytes)
            map["proof"] = proof
            return try DagCBOR.encode(.map(map))
        }
        var random = SeededGenerator(seed: 0x7468_7265_6164)
        var answered = 0
        for round in 0..<800 {
            // Four messages in every 20, one of each kind, go through intact among the mangled ones.
            let seed = seeds[round % seeds.count]
            let payload = round % 20 < 4 ? seed : random.mangled(seed)
            if (try? await a.replicator.serve(payload, from: member)) != nil { answered += 1 }
            await a.replicator.receivePush(payload, from: member)
        }
        // The intact requests are answered, and a few mangled ones still make sense (a changed
        // `from`, say); most are refused.
        #expect(answered >= 120 && answered < 300)

        // a's own records are all there and readable, and the intact push was taken, checked.
        #expect(try a.bodies(thread) == ((0..<5).map { "a\($0)" } + ["w0"]).sorted())
        #expect(try a.store.checkedChain(of: log, in: thread, key: key).count == 5)
        // And it still serves its records.
        let reply = try await a.replicator.serve(seeds[1], from: member)
        #expect(try DagCBOR.decode(reply).mapValue?["records"]?.listValue?.count == 5)
        await a.shutdown()
    }

    @Test(.timeLimit(.minutes(2))) func aPullerStoresOnlyWhatChecksOutFromMangledAnswers() async throws {
        let mangle = Mutex(true)
        let mangled = Mutex(0)
        let random = Mutex(SeededGenerator(seed: 42))
        let a = try await ThreadsTestNode(rewriteReply: { reply in
            guard mangle.withLock({ $0 }) else { return reply }
            return random.withLock { generator in
                guard generator.below(8) != 0 else { return reply }
                mangled.withLock { $0 += 1 }
                return generator.mangled(reply)
            }
        })
        let b = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try a.logstore.addThread(thread, key: key)
        for n in 0..<40 { try a.logstore.append(Array("a\(n)".utf8), to: thread) }
        let log = try a.logstore.ownLogKey(in: thread).publicKey.peerID
        try await b.join(thread, key: key, through: a)
        for _ in 0..<12 { _ = await b.replicator.pull(thread, from: a.peer) }
        #expect(mangled.withLock { $0 } > 10)

        // Whatever b stored is a prefix of a's log, every link checked.
        let partial = try b.store.checkedChain(of: log, in: thread, key: key)
        #expect(partial.count <= 40)
        #expect(Set(try b.bodies(thread)).isSubset(of: Set((0..<40).map { "a\($0)" })))

        // Once the answers are honest again, b gets the rest.
        mangle.withLock { $0 = false }
        _ = await b.replicator.pull(thread, from: a.peer)
        #expect(try b.store.checkedChain(of: log, in: thread, key: key).count == 40)
        #expect(try b.bodies(thread) == (0..<40).map { "a\($0)" }.sorted())
        for node in [a, b] { await node.shutdown() }
    }
    /// Pushes whose body is a link (or that leave a gap) send the node pulling from their sender.
    /// A member that floods them queues one pull, not one waiting task per push.
    @Test(.timeLimit(.minutes(2))) func aFloodOfPushesQueuesOnePullNotOnePerPush() async throws {
        let a = try await ThreadsTestNode()
        let b = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try b.logstore.addThread(thread, key: key)
        for n in 0..<20 { try b.logstore.append(Array("b\(n)".utf8), to: thread) }
        try await a.join(thread, key: key, through: b)
        let (_, blocks) = try b.logstore.append(Array("b20".utf8), to: thread)
        let pushed = Replicator.wire(blocks.all).listValue ?? []
        let payload = try DagCBOR.encode(
            .map([
                "op": .string("push"), "thread": .bytes(thread.bytes),
                "proof": .bytes(Replicator.proof(thread: thread, key: key, peer: b.peer)),
                "blocks": .list(Array(pushed.prefix(3)) + [.link(blocks.body.cid)]),
            ])
        )
        for _ in 0..<3000 { await a.replicator.receivePush(payload, from: b.peer) }
        try await TestKit.waitUntil {
            let running = await a.replicator.pulling.count
            let queued = await a.replicator.queuedPushPulls.count
            let idle = running == 0 && queued == 0
            return try a.recordCount(thread) == 21 && idle
        }
        // Besides the one queued by pushes, the pulls the connection itself started may wait.
        #expect(await a.replicator.pullWaiters.most <= 3)
        #expect(try a.bodies(thread) == (0...20).map { "b\($0)" }.sorted())
        for node in [a, b] { await node.shutdown() }
    }
    /// A member's heads answer may name logs it has no records of, or heads beyond what it holds:
    /// such claims count as lag only until the member fails to serve them, and in an
    /// access-controlled thread logs the access log does not name are not fetched at all.
    @Test(.timeLimit(.minutes(2)), arguments: [ThreadID.Variant.raw, .accessControlled])
    func madeUpHeadsAreNotKept(variant: ThreadID.Variant) async throws {
        let fakes = (0..<50).map { _ in Ed25519.PrivateKey().publicKey.peerID }
        let realLog = Mutex<PeerID?>(nil)
        let recordsAsked = Mutex(0)
        let b = try await ThreadsTestNode(
            rewrite: { request in
                if let fields = try? DagCBOR.decode(request).mapValue, fields["op"]?.stringValue == "records" {
                    recordsAsked.withLock { $0 += 1 }
                }
                return request
            },
            rewriteReply: { reply in
                guard var fields = try? DagCBOR.decode(reply).mapValue, var heads = fields["heads"]?.listValue,
                    let real = realLog.withLock({ $0 })
                else { return reply }
                // Made-up logs, and the real log claimed 1000 records ahead.
                heads = heads.map { item in
                    guard var head = item.mapValue, head["log"]?.bytesValue == real.bytes else { return item }
                    head["seq"] = .integer(1019)
                    return .map(head)
                }
                heads += fakes.map {
                    .map(["log": .bytes($0.bytes), "seq": .integer(1_000_000_000_000), "cid": .null])
                }
                fields["heads"] = .list(heads)
                return (try? DagCBOR.encode(.map(fields))) ?? reply
            }
        )
        let a = try await ThreadsTestNode()
        let thread = ThreadID(variant: variant)
        let key = ThreadKey()
        let log = Ed25519.PrivateKey()
        let owner = variant == .accessControlled ? log.publicKey.peerID : nil
        try b.logstore.addThread(thread, key: key, owner: owner)
        try b.logstore.setOwnLogKey(log, in: thread)
        for n in 0..<20 { try b.logstore.append(Array("b\(n)".utf8), to: thread) }
        realLog.withLock { $0 = log.publicKey.peerID }
        try a.logstore.addThread(thread, key: key, owner: owner)
        try a.logstore.addMember(b.peer, to: thread)
        _ = try await a.manager.connect(b.address)
        _ = await a.replicator.pull(thread, from: b.peer)

        #expect(try a.bodies(thread) == (0..<20).map { "b\($0)" }.sorted())
        #expect(await a.replicator.lag() == 0)
        let reported = await a.replicator.reportedHeads[thread] ?? [:]
        #expect(reported.keys.allSatisfy { !fakes.contains($0) })
        // Raw threads take any log, so each made-up one is asked for once (and has nothing);
        // an access-controlled thread asks only for the owner's: per pull (the connection starts
        // one, the test another), two requests ahead (the claimed head is a batch beyond the
        // first) and one from where the short answer ended.
        let asked = recordsAsked.withLock { $0 }
        if variant == .accessControlled { #expect(asked <= 6) } else { #expect(asked >= fakes.count) }
        for node in [a, b] { await node.shutdown() }
    }

    /// One member claims a head it then fails to serve up to; another's true claim of the same
    /// log, which could not be fetched yet, still counts as lag.
    @Test(.timeLimit(.minutes(2))) func aWithdrawnClaimLeavesAnotherMembersClaim() async throws {
        let refuseRecords = Mutex(false)
        let overclaim = Mutex<(PeerID, Int)?>(nil)
        // Holds the whole log, but its `records` answers stop working.
        let full = try await ThreadsTestNode(rewrite: { request in
            guard refuseRecords.withLock({ $0 }),
                let fields = try? DagCBOR.decode(request).mapValue, fields["op"]?.stringValue == "records"
            else { return request }
            return [0xff]
        })
        // Holds half of it and claims all of it.
        let half = try await ThreadsTestNode(rewriteReply: { reply in
            guard let (log, seq) = overclaim.withLock({ $0 }),
                var fields = try? DagCBOR.decode(reply).mapValue, let heads = fields["heads"]?.listValue
            else { return reply }
            fields["heads"] = .list(
                heads.map { item in
                    guard var head = item.mapValue, head["log"]?.bytesValue == log.bytes else { return item }
                    head["seq"] = .integer(IPLDInteger(UInt64(seq)))
                    return .map(head)
                }
            )
            return (try? DagCBOR.encode(.map(fields))) ?? reply
        })
        let a = try await ThreadsTestNode()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        let log = Ed25519.PrivateKey()
        try full.logstore.addThread(thread, key: key)
        try full.logstore.setOwnLogKey(log, in: thread)
        for n in 0..<20 { try full.logstore.append(Array("r\(n)".utf8), to: thread) }
        try half.logstore.addThread(thread, key: key)
        try half.logstore.addMember(full.peer, to: thread)
        _ = try await half.manager.connect(full.address)
        _ = await half.replicator.pull(thread, from: full.peer)
        #expect(try half.recordCount(thread) == 20)
        for n in 20..<40 { try full.logstore.append(Array("r\(n)".utf8), to: thread) }
        refuseRecords.withLock { $0 = true }
        overclaim.withLock { $0 = (log.publicKey.peerID, 39) }

        try a.logstore.addThread(thread, key: key)
        try a.logstore.addMember(full.peer, to: thread)
        try a.logstore.addMember(half.peer, to: thread)
        _ = try await a.manager.connect(full.address)
        _ = await a.replicator.pull(thread, from: full.peer)
        #expect(try a.recordCount(thread) == 0)
        #expect(await a.replicator.lag() == 40)
        _ = try await a.manager.connect(half.address)
        _ = await a.replicator.pull(thread, from: half.peer)
        #expect(try a.recordCount(thread) == 20)
        // `half` withdrew its claim; `full`'s stands: 20 records known and not held.
        #expect(await a.replicator.lag() == 20)
        // A thread deleted here leaves no lag behind.
        try a.logstore.deleteThread(thread)
        #expect(await a.replicator.lag() == 0)
        for node in [a, full, half] { await node.shutdown() }
    }
}
