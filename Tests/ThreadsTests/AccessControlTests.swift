import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Testing
import ThreadsTestKit
import Transport

@testable import Threads

@Suite("Roles, access log and revocation", .serialized, .timeLimit(.minutes(5)))
struct AccessControlTests {
    /// An owner node with an access-controlled thread.
    func ownerNode() async throws -> (ThreadsTestNode, ThreadID, ThreadKey) {
        let owner = try await ThreadsTestNode()
        let thread = ThreadID(variant: .accessControlled)
        let key = ThreadKey()
        let log = Ed25519.PrivateKey()
        try owner.logstore.addThread(thread, key: key, owner: log.publicKey.peerID)
        try owner.logstore.setOwnLogKey(log, in: thread)
        return (owner, thread, key)
    }

    /// A member joining as an invite would make it.
    func member(
        of thread: ThreadID,
        key: ThreadKey,
        owner: ThreadsTestNode,
        logKey: Ed25519.PrivateKey?
    ) async throws -> ThreadsTestNode {
        let node = try await ThreadsTestNode()
        try node.logstore.addThread(thread, key: key, owner: try owner.logstore.owner(of: thread))
        if let logKey { try node.logstore.setOwnLogKey(logKey, in: thread) }
        try node.logstore.addMember(owner.peer, to: thread)
        _ = try await node.manager.connect(owner.address)
        return node
    }

    func readable(_ node: ThreadsTestNode, _ thread: ThreadID) -> [String] {
        var out: [String] = []
        for log in (try? node.logstore.heads(of: thread).keys) ?? [:].keys {
            for (_, entry) in (try? node.logstore.entries(of: log, in: thread)) ?? [] {
                if let (_, body) = try? node.logstore.read(entry, in: thread), !body.isEmpty {
                    out.append(String(decoding: body, as: UTF8.self))
                }
            }
        }
        return out.sorted()
    }

    @Test func writersWriteReadersOnlyReadAndRevokedMembersLoseNewRecords() async throws {
        let (owner, thread, key) = try await ownerNode()
        try await owner.write("o1", to: thread)
        let writerKey = try owner.logstore.admit(.writer, in: thread).logKey
        let readerKey = try owner.logstore.admit(.reader, in: thread).logKey
        let writer = try await member(of: thread, key: key, owner: owner, logKey: writerKey)
        let reader = try await member(of: thread, key: key, owner: owner, logKey: readerKey)
        let replica = try await member(of: thread, key: key.serviceOnly, owner: owner, logKey: nil)
        #expect(await TestKit.eventually { readable(writer, thread) == ["o1"] && readable(reader, thread) == ["o1"] })

        // The writer's record reaches the owner; the reader cannot even build one...
        try await writer.write("w1", to: thread)
        #expect(await TestKit.eventually { readable(owner, thread) == ["o1", "w1"] })
        #expect(throws: ThreadsError.self) { try reader.logstore.append(Array("r1".utf8), to: thread) }
        // ...and a record it forges with its log key is refused, with nothing stored.
        let forged = try ThreadRecord.create(
            thread: thread,
            key: key,
            logKey: readerKey,
            prev: nil,
            body: Array("forged".utf8),
            time: 1,
            clock: .init(wall: 1, counter: 0)
        )
        let before = try owner.logstore.blockstore.allCIDs().count
        #expect(throws: ThreadsError.self) {
            try owner.logstore.ingest(
                record: forged.blocks.record,
                event: forged.blocks.event,
                header: forged.blocks.header,
                body: forged.blocks.body,
                into: thread
            )
        }
        #expect(try owner.logstore.blockstore.allCIDs().count == before)
        // Only the owner's log carries access entries.
        let sneaky = try ThreadRecord.create(
            thread: thread,
            key: key,
            logKey: writerKey,
            prev: nil,
            body: [],
            time: 1,
            clock: .init(wall: 1, counter: 0),
            acl: .admit(log: readerKey.publicKey.peerID, role: .writer)
        )
        let fresh = try await ThreadsTestNode()
        try fresh.logstore.addThread(thread, key: key, owner: try owner.logstore.owner(of: thread))
        #expect(throws: ThreadsError.self) {
            try fresh.logstore.ingest(
                record: sneaky.blocks.record,
                event: sneaky.blocks.event,
                header: sneaky.blocks.header,
                body: sneaky.blocks.body,
                into: thread
            )
        }

        // The replica keeps everything and reads nothing.
        _ = await replica.replicator.pull(thread, from: owner.peer)
        #expect(try replica.recordCount(thread) == (try owner.recordCount(thread)))
        #expect(readable(replica, thread).isEmpty)

        // Revoking the writer: the reader gets the new read key, the writer does not.
        let (revocation, blocks) = try owner.logstore.revoke(writerKey.publicKey.peerID, in: thread)
        #expect(revocation.acl != nil)
        await owner.replicator.push(blocks, thread: thread)
        try await owner.write("after", to: thread)
        _ = await reader.replicator.pull(thread, from: owner.peer)
        _ = await writer.replicator.pull(thread, from: owner.peer)
        #expect(try reader.logstore.key(of: thread)?.epoch == 1)
        #expect(try writer.logstore.key(of: thread)?.epoch == 0)
        #expect(readable(reader, thread) == ["after", "o1", "w1"])
        // The writer stored the new record but cannot read it.
        #expect(try writer.recordCount(thread) == (try owner.recordCount(thread)))
        #expect(readable(writer, thread) == ["o1", "w1"])
        // It knows it is revoked and does not write; a record it forges anyway is refused.
        #expect(throws: ThreadsError.self) { try writer.logstore.append(Array("w2".utf8), to: thread) }
        let head = try #require(try owner.logstore.head(of: writerKey.publicKey.peerID, in: thread))
        let late = try ThreadRecord.create(
            thread: thread,
            key: key,
            logKey: writerKey,
            prev: (head.cid, head.sequence),
            body: Array("w2".utf8),
            time: 2,
            clock: .init(wall: 2, counter: 0)
        )
        #expect(throws: ThreadsError.self) {
            try owner.logstore.ingest(
                record: late.blocks.record,
                event: late.blocks.event,
                header: late.blocks.header,
                body: late.blocks.body,
                into: thread
            )
        }
        // A member that learns of everything only now (owner's log first) accepts the writer's
        // records from before the revocation, like everyone else.
        let latecomer = try await member(of: thread, key: key, owner: owner, logKey: nil)
        _ = await latecomer.replicator.pull(thread, from: owner.peer)
        #expect(await TestKit.eventually { try latecomer.recordCount(thread) == (try owner.recordCount(thread)) })

        // The reader's new key survives a restart.
        try reader.store.reopen()
        #expect(try reader.logstore.key(of: thread)?.epoch == 1)
        for node in [owner, writer, reader, replica, fresh, latecomer] { await node.shutdown() }
    }

    @Test func accessEntriesAndEpochsRoundTrip() throws {
        let logs = (0..<3).map { _ in Ed25519.PrivateKey() }
        let read = SymmetricKey()
        let sealed = try AccessEntry.seal(read, to: logs.map(\.publicKey.peerID))
        let entry = AccessEntry.revoke(log: logs[0].publicKey.peerID, kept: 3, epoch: 1, keys: sealed)
        #expect(try AccessEntry(ipld: entry.ipld) == entry)
        #expect(AccessEntry.open(sealed[logs[1].publicKey.peerID]!, with: logs[1]) == read)
        #expect(AccessEntry.open(sealed[logs[1].publicKey.peerID]!, with: logs[2]) == nil)
        let key = ThreadKey().rotated(to: read)
        #expect(key.epoch == 1)
        #expect(try ThreadKey(key.secretString) == key)
        #expect(try ThreadKey(key.secretString).readKey(epoch: 1) == read)
    }
}
