import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Testing
import ThreadsTestKit

@testable import Threads

final class TempStore: @unchecked Sendable {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("threads-\(UUID().uuidString)").path
    var database: Database
    var logstore: Logstore

    init() throws {
        database = try Database(path: path)
        logstore = Logstore(database: database, blockstore: Blockstore(database: database))
    }

    /// Closes and reopens the database, as a restart would.
    func reopen() throws {
        database.close()
        database = try Database(path: path)
        logstore = Logstore(database: database, blockstore: Blockstore(database: database))
    }

    deinit {
        database.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The stored records of `log`, oldest first, once checked to make one chain: every sequence
    /// number from 0 once, each record linking to the one before, the head the newest.
    func checkedChain(of log: PeerID, in thread: ThreadID, key: ThreadKey) throws -> [(
        entry: Logstore.Entry, record: ThreadRecord
    )] {
        let entries = try logstore.entries(of: log, in: thread)
        #expect(entries.map(\.sequence) == Array(0..<UInt64(entries.count)))
        var chain: [(entry: Logstore.Entry, record: ThreadRecord)] = []
        for (_, entry) in entries {
            let bytes = try #require(try logstore.blockstore.get(entry.record))
            let record = try ThreadRecord.open(try Block(cid: entry.record, bytes: bytes), thread: thread, key: key)
            #expect(record.prev == chain.last?.record.cid)
            chain.append((entry, record))
        }
        #expect(try logstore.head(of: log, in: thread)?.cid == chain.last?.record.cid)
        return chain
    }
}

@Suite("Thread identifiers and keys", .timeLimit(.minutes(5)))
struct IdentifierTests {
    @Test func threadIDsRoundTripInTheGoThreadsLayout() throws {
        for variant in [ThreadID.Variant.raw, .accessControlled] {
            let id = ThreadID(variant: variant)
            #expect(id.bytes.count == 34)
            #expect(id.bytes[0] == 0x01)
            #expect(id.bytes[1] == UInt8(variant.rawValue))
            #expect(id.description.hasPrefix("b"))
            #expect(try ThreadID(id.description) == id)
            #expect(try ThreadID(bytes: id.bytes).variant == variant)
        }
        // A fixed ID, laid out by hand: version 1, variant 0x55, 32 bytes of 0xab.
        let fixed = try ThreadID(bytes: [0x01, 0x55] + [UInt8](repeating: 0xab, count: 32))
        #expect(fixed.description == "bafk2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xky")
        #expect(throws: ThreadsError.invalidThreadID("unknown version 2")) {
            try ThreadID(bytes: [0x02, 0x55] + [UInt8](repeating: 0, count: 32))
        }
        #expect(throws: ThreadsError.self) { try ThreadID(bytes: [0x01, 0x56] + [UInt8](repeating: 0, count: 32)) }
        #expect(throws: ThreadsError.self) { try ThreadID(bytes: [0x01, 0x55] + [UInt8](repeating: 0, count: 31)) }
        #expect(throws: ThreadsError.self) { try ThreadID("not an id") }
    }

    @Test func threadKeysRoundTripWithAndWithoutTheReadKey() throws {
        let key = ThreadKey()
        #expect(try ThreadKey(key.secretString) == key)
        #expect(key.bytes.count == 64)
        let replica = key.serviceOnly
        #expect(!replica.canRead)
        #expect(try ThreadKey(replica.secretString) == replica)
        #expect(!key.description.contains(key.secretString))
        #expect(throws: ThreadsError.self) { try ThreadKey(bytes: [1, 2, 3]) }
    }

    @Test func theClockNeverGoesBack() {
        var clock = HybridLogicalClock()
        let a = clock.tick(now: 1000)
        let b = clock.tick(now: 1000)
        let c = clock.tick(now: 900)  // the wall clock stepped back
        #expect(a < b && b < c)
        clock.observe(HLCTimestamp(wall: 5000, counter: 7), now: 1000)
        #expect(clock.tick(now: 1000) > HLCTimestamp(wall: 5000, counter: 7))
    }
}

@Suite("Records and the logstore", .timeLimit(.minutes(5)))
struct LogstoreTests {
    let thread = ThreadID(variant: .raw)
    let key = ThreadKey()

    @Test func appendedRecordsChainAndReadBack() throws {
        let store = try TempStore()
        try store.logstore.addThread(thread, key: key)
        var records: [ThreadRecord] = []
        for n in 0..<3 { records.append(try store.logstore.append(Array("event \(n)".utf8), to: thread).record) }
        #expect(records.map(\.sequence) == [0, 1, 2])
        #expect(records[0].prev == nil)
        #expect(records[1].prev == records[0].cid)
        #expect(records[2].prev == records[1].cid)
        let log = records[0].log
        #expect(try store.logstore.head(of: log, in: thread) == .init(cid: records[2].cid, sequence: 2))
        let entries = try store.logstore.entries(of: log, in: thread)
        #expect(entries.map(\.entry.record) == records.map(\.cid))
        let bodies = try entries.map {
            String(decoding: try store.logstore.read($0.entry, in: thread).body, as: UTF8.self)
        }
        #expect(bodies == ["event 0", "event 1", "event 2"])
        // Serving a log rebuilds each event node from its two links instead of reading it: the
        // rebuilt bytes are the stored block's.
        for (_, entry) in entries {
            let rebuilt = ThreadRecord.eventBytes(header: entry.header, body: entry.body)
            #expect(try store.logstore.blockstore.get(entry.event) == rebuilt)
        }
        let clocks = try entries.map { try store.logstore.read($0.entry, in: thread).header.clock }
        #expect(clocks == clocks.sorted() && Set(clocks).count == 3)

        // Everything survives a restart, including the log key (appends continue the same log).
        try store.reopen()
        #expect(try store.logstore.threads() == [thread])
        #expect(try store.logstore.key(of: thread) == key)
        let next = try store.logstore.append(Array("event 3".utf8), to: thread).record
        #expect(next.log == log && next.sequence == 3 && next.prev == records[2].cid)
    }

    /// When the store fails under queued appends (here it is closed midway), every caller gets
    /// either its record, on disk, or an error: none waits forever. After a restart the log goes
    /// on from what reached the disk, unbroken.
    @Test(.timeLimit(.minutes(2))) func appendsFailCleanlyWhenTheStoreGoesAway() async throws {
        let store = try TempStore()
        try store.logstore.addThread(thread, key: key)
        _ = try store.logstore.ownLogKey(in: thread)
        let logstore = store.logstore
        let database = store.database
        let thread = thread
        let outcomes = await withTaskGroup(of: Result<ThreadRecord, any Error>.self) { group in
            for n in 0..<400 {
                group.addTask {
                    if n == 150 { database.close() }
                    do {
                        return .success(try await logstore.appendDurably(Array("r\(n)".utf8), to: thread).record)
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var out: [Result<ThreadRecord, any Error>] = []
            for await outcome in group { out.append(outcome) }
            return out
        }
        let failures = outcomes.compactMap { outcome -> (any Error)? in
            if case .failure(let error) = outcome { return error }
            return nil
        }
        let successes = outcomes.compactMap { try? $0.get() }
        #expect(!failures.isEmpty)
        #expect(failures.allSatisfy { $0 is ThreadsError }, "\(failures.first.map { "\($0)" } ?? "")")

        try store.reopen()
        let log = try store.logstore.ownLogKey(in: thread).publicKey.peerID
        let stored = try store.logstore.entries(of: log, in: thread)
        #expect(stored.map(\.sequence) == Array(0..<UInt64(stored.count)))
        // Whatever a caller was told is durable is there.
        for record in successes {
            #expect(stored.first { $0.sequence == record.sequence }?.entry.record == record.cid)
        }
        let next = try store.logstore.append(Array("after".utf8), to: thread).record
        #expect(next.sequence == UInt64(stored.count))
        #expect(next.prev == stored.last?.entry.record)
    }

    /// A write that fails once (a disk full for a moment) under many queued appends: the appends
    /// queued with it fail too, the later ones succeed, and the stored log stays one unbroken
    /// chain holding every acknowledged record. Before failed writes counted generations, a
    /// failed append's late reset of the pending heads let a new append reuse a sequence number
    /// still queued: the log forked and an acknowledged record was overwritten (this test caught
    /// it).
    @Test(.timeLimit(.minutes(2))) func aPassingWriteFailureLeavesNoGap() async throws {
        let store = try TempStore()
        try store.logstore.addThread(thread, key: key)
        let log = try store.logstore.ownLogKey(in: thread).publicKey.peerID
        let logstore = store.logstore
        let thread = thread
        var failures = 0
        var successes: [ThreadRecord] = []
        for _ in 0..<6 {
            let outcomes = await withTaskGroup(of: ThreadRecord?.self) { group in
                for n in 0..<150 {
                    group.addTask {
                        if n == 50 { logstore.committer.failNextWrites(1) }
                        if n % 40 == 0 { return try? logstore.append(Array("sync \(n)".utf8), to: thread).record }
                        return try? await logstore.appendDurably(Array("r\(n)".utf8), to: thread).record
                    }
                }
                var out: [ThreadRecord?] = []
                for await outcome in group { out.append(outcome) }
                return out
            }
            failures += outcomes.filter { $0 == nil }.count
            successes += outcomes.compactMap { $0 }
        }
        #expect(failures > 0)
        #expect(successes.count > 6 * 100)

        // One chain from 0 to the head, every link stored; each success where its caller was told.
        func checkChain() throws {
            let chain = try store.checkedChain(of: log, in: thread, key: key)
            for record in successes {
                #expect(chain.first { $0.record.sequence == record.sequence }?.record.cid == record.cid)
            }
        }
        try checkChain()
        try store.reopen()
        try checkChain()
    }

    /// Many concurrent durable appends (signed in batches by whichever caller drains the queue)
    /// and synchronous ones in between, the very first ones included, still make one unbroken
    /// log, and each caller gets back the record that holds its own body.
    @Test func concurrentAppendsMakeOneChain() async throws {
        let store = try TempStore()
        try store.logstore.addThread(thread, key: key)
        let logstore = store.logstore
        let thread = thread
        let returned = try await withThrowingTaskGroup(of: (String, ThreadRecord).self) { group in
            for n in 0..<300 {
                group.addTask {
                    let body = "async \(n)"
                    if n % 50 == 0 { return (body, try logstore.append(Array(body.utf8), to: thread).record) }
                    return (body, try await logstore.appendDurably(Array(body.utf8), to: thread).record)
                }
            }
            var out: [(String, ThreadRecord)] = []
            for try await pair in group { out.append(pair) }
            return out
        }
        // The first appends race to make the node's log key: they must still end in one log.
        #expect(Set(returned.map(\.1.log)).count == 1)
        let log = try #require(returned.first?.1.log)
        #expect(Set(returned.map(\.1.sequence)) == Set(0..<300))

        // After a restart: every sequence once, each linking to the one before, each body where
        // its caller was told it is.
        try store.reopen()
        let chain = try store.checkedChain(of: log, in: thread, key: key)
        #expect(chain.count == 300)
        for (entry, record) in chain {
            let expected = returned.first { $0.1.sequence == record.sequence }
            #expect(expected?.1.cid == entry.record)
            let body = String(decoding: try store.logstore.read(entry, in: thread).body, as: UTF8.self)
            #expect(body == expected?.0)
        }
    }

    /// A synchronous append (as the access log's admissions make) right behind queued group-commit
    /// appends reaches the disk after them: the stored head is the newest record, so after a
    /// restart the log goes on from there instead of forking.
    @Test func synchronousAppendsDoNotOvertakeQueuedOnes() async throws {
        let store = try TempStore()
        try store.logstore.addThread(thread, key: key)
        var last: ThreadRecord?
        var regressed = 0
        for round in 0..<50 {
            let queued = try (0..<30).map {
                try store.logstore.beginAppend(Array("queued \(round).\($0)".utf8), to: thread)
            }
            let record = try store.logstore.append(Array("sync \(round)".utf8), to: thread).record
            for append in queued { try await append.durable() }
            if try store.logstore.head(of: record.log, in: thread)?.cid != record.cid { regressed += 1 }
            last = record
        }
        #expect(regressed == 0)
        let newest = try #require(last)
        #expect(newest.sequence == 50 * 31 - 1)
        try store.reopen()
        #expect(try store.logstore.head(of: newest.log, in: thread)?.cid == newest.cid)
        let next = try store.logstore.append(Array("after restart".utf8), to: thread).record
        #expect(next.sequence == newest.sequence + 1 && next.prev == newest.cid)
    }

    /// Addresses reported for one member at the same time are all kept.
    @Test func concurrentMemberAddressesAreMerged() async throws {
        let store = try TempStore()
        try store.logstore.addThread(thread, key: key)
        let logstore = store.logstore
        let thread = thread
        let peer = Ed25519.PrivateKey().publicKey.peerID
        let addresses = try (0..<12).map { try Multiaddr("/ip4/10.0.0.\($0 + 1)/tcp/4006") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for address in addresses {
                group.addTask { try logstore.addMember(peer, to: thread, addresses: [address]) }
            }
            try await group.waitForAll()
        }
        #expect(Set(try logstore.addresses(of: peer, in: thread)) == Set(addresses))
        #expect(try logstore.members(of: thread) == [peer])
    }

    /// Forgetting a member drops it and its addresses, in this thread only; its records stay.
    @Test func aForgottenMemberLeavesOnlyThatThreadsMemberList() throws {
        let store = try TempStore()
        let other = ThreadID(variant: .raw)
        try store.logstore.addThread(thread, key: key)
        try store.logstore.addThread(other, key: ThreadKey())
        try store.logstore.append(Array("kept".utf8), to: thread)
        let gone = Ed25519.PrivateKey().publicKey.peerID
        let staying = Ed25519.PrivateKey().publicKey.peerID
        for id in [thread, other] {
            try store.logstore.addMember(gone, to: id, addresses: [try Multiaddr("/ip4/10.0.0.9/tcp/4006")])
        }
        try store.logstore.addMember(staying, to: thread)

        #expect(try store.logstore.removeMember(gone, from: thread))
        #expect(try store.logstore.members(of: thread) == [staying])
        #expect(try store.logstore.addresses(of: gone, in: thread).isEmpty)
        #expect(try store.logstore.members(of: other) == [gone])
        #expect(try store.logstore.addresses(of: gone, in: other).count == 1)
        #expect(try store.logstore.heads(of: thread).count == 1)
        // Not a member (any more): nothing to do.
        #expect(try !store.logstore.removeMember(gone, from: thread))
        // Back with the keys, it is a member again.
        try store.logstore.addMember(gone, to: thread)
        #expect(Set(try store.logstore.members(of: thread)) == [gone, staying])
    }

    /// Records of one writer, in order, with their blocks.
    func writerLog(_ count: Int) throws -> (TempStore, [ThreadRecord.Blocks]) {
        let writer = try TempStore()
        try writer.logstore.addThread(thread, key: key)
        var blocks: [ThreadRecord.Blocks] = []
        for n in 0..<count { blocks.append(try writer.logstore.append(Array("event \(n)".utf8), to: thread).blocks) }
        return (writer, blocks)
    }

    func ingest(_ store: TempStore, _ b: ThreadRecord.Blocks) throws {
        try store.logstore.ingest(record: b.record, event: b.event, header: b.header, body: b.body, into: thread)
    }

    @Test func peersIngestVerifiedRecordsInOrderOnly() throws {
        let (_, blocks) = try writerLog(3)
        let peer = try TempStore()
        try peer.logstore.addThread(thread, key: key)
        // Out of order: record 1 before record 0 is refused and nothing is stored.
        #expect(throws: ThreadsError.self) { try ingest(peer, blocks[1]) }
        #expect(try peer.logstore.heads(of: thread).isEmpty)
        #expect(try peer.database.scan(prefix: Array("/blocks/".utf8)).next() == nil)
        for b in blocks { try ingest(peer, b) }
        // Again: idempotent.
        for b in blocks { try ingest(peer, b) }
        let heads = try peer.logstore.heads(of: thread)
        #expect(heads.count == 1 && heads.first?.value.sequence == 2)
        let entries = try peer.logstore.entries(of: try #require(heads.keys.first), in: thread)
        #expect(try String(decoding: peer.logstore.read(entries[2].entry, in: thread).body, as: UTF8.self) == "event 2")
    }

    @Test func blockCountsStayExactForInlineAndFetchedBodies() throws {
        let (_, blocks) = try writerLog(4)
        let peer = try TempStore()
        try peer.logstore.addThread(thread, key: key)
        for (n, b) in blocks.enumerated() {
            // Records 1 and 3: the body was fetched first (as the exchange does for a large one)
            // and the record arrives without it.
            let fetched = n % 2 == 1
            if fetched { try peer.logstore.blockstore.put(b.body) }
            let incoming = Logstore.IncomingRecord(
                record: b.record,
                event: b.event,
                header: b.header,
                body: b.body,
                bodyCameInline: !fetched
            )
            try peer.logstore.ingest([incoming], into: thread)
        }
        // Four blocks a record, each counted once.
        #expect(try peer.logstore.logstoreBlockCount() == 16)
        #expect(try peer.logstore.blockstore.count == 16)
        #expect(
            try peer.logstore.blockstore.totalSize
                == blocks.reduce(0) { $0 + UInt64($1.all.map(\.bytes.count).reduce(0, +)) }
        )
        // A body not said to be inline is still stored when it is not here yet.
        let (_, more) = try writerLog(1)
        let other = try TempStore()
        try other.logstore.addThread(thread, key: key)
        try ingest(other, more[0])
        #expect(try other.logstore.blockstore.has(more[0].body.cid))
        #expect(try other.logstore.blockstore.count == 4)
    }

    @Test func aRecordOpenedEarlierCountsOnlyForItsOwnBlock() throws {
        let (_, blocks) = try writerLog(2)
        let peer = try TempStore()
        try peer.logstore.addThread(thread, key: key)
        func incoming(_ b: ThreadRecord.Blocks, record: Block? = nil) -> Logstore.IncomingRecord {
            Logstore.IncomingRecord(record: record ?? b.record, event: b.event, header: b.header, body: b.body)
        }
        let first = try ThreadRecord.open(blocks[0].record, thread: thread, key: key)
        let second = try ThreadRecord.open(blocks[1].record, thread: thread, key: key)
        // Given its own opened record, verify takes it.
        #expect(try peer.logstore.verify(incoming(blocks[0]), in: thread, opened: first).record == first)
        // Another record's is ignored: the block is opened and checked itself.
        #expect(try peer.logstore.verify(incoming(blocks[1]), in: thread, opened: first).record == second)
        // A tampered record block is refused even when handed the genuine record opened earlier.
        var bytes = blocks[1].record.bytes
        bytes[bytes.count / 2] ^= 0x01
        let tampered = try Block(bytes: bytes, codec: Multicodec.dagCBOR)
        #expect(throws: ThreadsError.self) {
            try peer.logstore.verify(incoming(blocks[1], record: tampered), in: thread, opened: second)
        }
    }

    @Test func forgedTamperedAndForeignRecordsAreRejectedWithNothingStored() throws {
        let (_, blocks) = try writerLog(2)
        let peer = try TempStore()
        try peer.logstore.addThread(thread, key: key)
        func rejects(_ b: ThreadRecord.Blocks, _ why: String) {
            #expect(throws: ThreadsError.self, "\(why)") { try ingest(peer, b) }
            #expect((try? peer.logstore.heads(of: thread).isEmpty) == true, "\(why)")
        }
        // A flipped bit in the record wrapper.
        var bytes = blocks[0].record.bytes
        bytes[bytes.count - 3] ^= 1
        rejects(
            .init(
                record: Block(unchecked: blocks[0].record.cid, bytes: bytes),
                event: blocks[0].event,
                header: blocks[0].header,
                body: blocks[0].body
            ),
            "tampered"
        )
        // Re-signed by another key while claiming the same log: rebuild the wrapper by hand.
        let other = Ed25519.PrivateKey()
        let forged = try ThreadRecord.create(
            thread: thread,
            key: key,
            logKey: other,
            prev: nil,
            body: [1],
            time: 1,
            clock: .init(wall: 1, counter: 0)
        )
        let sealed = try #require(try forged.blocks.record.decode().bytesValue)
        let plaintext = try XChaCha20Poly1305.open(sealed, key: key.service, associatedData: thread.bytes)
        var inner = try #require(try DagCBOR.decode(plaintext).mapValue)
        let original = try ThreadRecord.open(blocks[0].record, thread: thread, key: key)
        inner["log"] = .bytes(try #require(original.log.ed25519PublicKey))
        let resealed = try Block(
            value: .bytes(
                XChaCha20Poly1305.seal(try DagCBOR.encode(.map(inner)), key: key.service, associatedData: thread.bytes)
            )
        )
        rejects(
            .init(record: resealed, event: forged.blocks.event, header: forged.blocks.header, body: forged.blocks.body),
            "re-signed"
        )
        // The right record with another event's blocks.
        rejects(
            .init(record: blocks[0].record, event: blocks[1].event, header: blocks[1].header, body: blocks[1].body),
            "swapped event"
        )
        // A record of another thread (same keys).
        let elsewhere = try ThreadRecord.create(
            thread: ThreadID(),
            key: key,
            logKey: other,
            prev: nil,
            body: [1],
            time: 1,
            clock: .init(wall: 1, counter: 0)
        )
        rejects(elsewhere.blocks, "other thread")
        // Truncated record block.
        rejects(
            .init(
                record: Block(unchecked: blocks[0].record.cid, bytes: Array(blocks[0].record.bytes.prefix(20))),
                event: blocks[0].event,
                header: blocks[0].header,
                body: blocks[0].body
            ),
            "truncated"
        )
        // Encrypted for another thread key.
        let stranger = try ThreadRecord.create(
            thread: thread,
            key: ThreadKey(),
            logKey: other,
            prev: nil,
            body: [1],
            time: 1,
            clock: .init(wall: 1, counter: 0)
        )
        rejects(stranger.blocks, "wrong service key")
        #expect(try peer.database.scan(prefix: Array("/blocks/".utf8)).next() == nil)
    }

    @Test func aReplicaStoresButCannotReadOrWrite() throws {
        let (_, blocks) = try writerLog(2)
        let replica = try TempStore()
        try replica.logstore.addThread(thread, key: key.serviceOnly)
        for b in blocks { try ingest(replica, b) }
        let log = try #require(try replica.logstore.heads(of: thread).keys.first)
        let entry = try #require(try replica.logstore.entry(of: log, sequence: 0, in: thread))
        #expect(throws: ThreadsError.self) { try replica.logstore.read(entry, in: thread) }
        #expect(throws: ThreadsError.self) { try replica.logstore.append([1], to: thread) }
    }

    @Test func aForkOfALogIsRefused() throws {
        let (writer, blocks) = try writerLog(1)
        let peer = try TempStore()
        try peer.logstore.addThread(thread, key: key)
        try ingest(peer, blocks[0])
        // The same log key signs a different record 0.
        let fork = try ThreadRecord.create(
            thread: thread,
            key: key,
            logKey: try writer.logstore.ownLogKey(in: thread),
            prev: nil,
            body: [9],
            time: 1,
            clock: .init(wall: 1, counter: 0)
        )
        #expect(throws: ThreadsError.self) { try ingest(peer, fork.blocks) }
    }

    @Test func deletingAThreadRemovesItsDataOnly() throws {
        let store = try TempStore()
        let other = ThreadID(variant: .raw)
        try store.logstore.addThread(thread, key: key)
        try store.logstore.addThread(other, key: ThreadKey())
        for n in 0..<3 { try store.logstore.append([UInt8(n)], to: thread) }
        let kept = try store.logstore.append([7], to: other).record
        try store.logstore.deleteThread(thread)
        #expect(try store.logstore.threads() == [other])
        #expect(try store.logstore.heads(of: thread).isEmpty)
        #expect(try store.logstore.logstoreBlockCount() == 4)
        #expect(try store.logstore.head(of: kept.log, in: other)?.cid == kept.cid)
    }
}

extension Logstore {
    func logstoreBlockCount() throws -> Int { try blockstore.allCIDs().count }
}

@Suite("Invites", .timeLimit(.minutes(5)))
struct InviteTests {
    @Test func invitesRoundTripAndStartWithTheInvitersMultiaddr() throws {
        let peer = Ed25519.PrivateKey().publicKey.peerID
        let address = try Multiaddr("/ip4/10.0.0.1/tcp/4006/p2p/\(peer)")
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        let writer = try Invite(address: address, thread: thread, role: .writer, key: key)
        #expect(writer.description.hasPrefix("/ip4/10.0.0.1/tcp/4006/p2p/\(peer)/thread/\(thread)?role=writer&key="))
        #expect(try Invite(writer.description) == writer)
        let replica = try Invite(address: address, thread: thread, role: .replica, key: key)
        #expect(try Invite(replica.description).key == key.serviceOnly)
        #expect(!replica.description.contains(writer.key.secretString))
        for bad in [
            "", "/ip4/10.0.0.1/tcp/4006", writer.description.replacingOccurrences(of: "role=writer", with: "role=king"),
            "/ip4/10.0.0.1/tcp/4006/thread/\(thread)?role=writer&key=\(key.secretString)",
            replica.description.replacingOccurrences(of: "role=replica", with: "role=writer"),
        ] {
            #expect(throws: ThreadsError.self, "\(bad)") { try Invite(bad) }
        }
        // Said as an invite's fault, not a record's: people paste these.
        #expect(throws: ThreadsError.invalidInvite("an invite is <multiaddr>/thread/<id>?role=…&key=…")) {
            try Invite("garbage")
        }
    }
    /// Invites are pasted by people and thread IDs and keys arrive from peers: mangled ones give
    /// typed errors, and whatever parses prints back to a string that parses to the same value.
    @Test func mangledInvitesIDsAndKeysFailCleanlyOrRoundTrip() throws {
        var rng = SeededGenerator(seed: 53)
        let peer = Ed25519.PrivateKey().publicKey.peerID
        let address = try Multiaddr("/ip4/10.0.0.1/tcp/4006/p2p/\(peer)")
        let thread = ThreadID(variant: .accessControlled)
        let invites = [
            try Invite(
                address: address,
                thread: thread,
                role: .writer,
                key: ThreadKey(),
                owner: peer,
                logKey: Ed25519.PrivateKey()
            ),
            try Invite(address: address, thread: thread, role: .replica, key: ThreadKey(), owner: peer),
            try Invite(address: address, thread: ThreadID(variant: .raw), role: .reader, key: ThreadKey()),
        ].map { Array($0.description.utf8) }
        var parsed = 0
        for round in 0..<4000 {
            let text = String(decoding: rng.mangled(invites[round % invites.count]), as: UTF8.self)
            do {
                let invite = try Invite(text)
                parsed += 1
                #expect(try Invite(invite.description) == invite)
            } catch {
                // typed throws: a ThreadsError is the only other outcome
            }
            if let id = try? ThreadID(bytes: rng.mangled(thread.bytes)) {
                #expect(try ThreadID(id.description) == id)
            }
            if let key = try? ThreadKey(bytes: rng.mangled(ThreadKey().bytes)) {
                #expect(try ThreadKey(key.secretString) == key)
            }
        }
        #expect(parsed > 0)
    }
}
