import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Synchronization

/// Threads, their keys, logs, heads and record index in LevelDB (Specs/threads.md, "Logstore").
///
/// Every change that makes records visible (blocks, index entries, the new head) is one synced
/// write batch: after a crash, a head never points at a missing block and an acknowledged append
/// is there.
public final class Logstore: Sendable {
    public let database: Database
    public let blockstore: Blockstore
    let threadSpace: Keyspace
    let logSpace: Keyspace
    /// Appends and ingests are serialised: each reads a head and writes the next one.
    private let writer = Mutex<HybridLogicalClock>(HybridLogicalClock())

    public init(database: Database, blockstore: Blockstore) {
        self.database = database
        self.blockstore = blockstore
        threadSpace = Keyspace(database, prefix: Keyspace.threads)
        logSpace = Keyspace(database, prefix: Keyspace.logs)
    }

    /// A log head: the newest record of a log this node has, and its sequence number.
    public struct Head: Sendable, Equatable {
        public let cid: CID
        public let sequence: UInt64
    }

    /// The CIDs of one stored record and its event's parts.
    public struct Entry: Sendable, Equatable {
        public let record: CID
        public let event: CID
        public let header: CID
        public let body: CID
    }

    // MARK: - Keys

    private func threadKey(_ id: ThreadID, _ suffix: String) -> [UInt8] { id.bytes + Array("/\(suffix)".utf8) }

    private func logPrefix(_ id: ThreadID, _ log: PeerID) -> [UInt8] {
        id.bytes + [UInt8(ascii: "/"), UInt8(log.bytes.count)] + log.bytes
    }

    private func indexKey(_ id: ThreadID, _ log: PeerID, _ sequence: UInt64) -> [UInt8] {
        logPrefix(id, log) + Array("/r/".utf8) + withUnsafeBytes(of: sequence.bigEndian) { Array($0) }
    }

    private func wrap<T>(_ body: () throws -> T) throws(ThreadsError) -> T {
        do { return try body() } catch let error as ThreadsError { throw error } catch { throw .store("\(error)") }
    }

    // MARK: - Threads

    /// Records a thread and its key (a newly created or joined thread).
    public func addThread(_ id: ThreadID, key: ThreadKey) throws(ThreadsError) {
        try wrap { try threadSpace.put(threadKey(id, "key"), key.bytes, sync: true) }
    }

    public func key(of id: ThreadID) throws(ThreadsError) -> ThreadKey? {
        guard let bytes = try wrap({ try threadSpace.get(threadKey(id, "key")) }) else { return nil }
        return try ThreadKey(bytes: bytes)
    }

    /// Every thread this node holds.
    public func threads() throws(ThreadsError) -> [ThreadID] {
        try wrap {
            try threadSpace.scan().compactMap { entry -> ThreadID? in
                guard entry.key.count > 4, entry.key.suffix(4) == Array("/key".utf8) else { return nil }
                return try? ThreadID(bytes: Array(entry.key.dropLast(4)))
            }
        }
    }

    /// The logs of a thread with their heads.
    public func heads(of id: ThreadID) throws(ThreadsError) -> [PeerID: Head] {
        var out: [PeerID: Head] = [:]
        for (key, value) in try wrap({ try logSpace.scan(prefix: id.bytes + [UInt8(ascii: "/")]) }) {
            guard key.hasSuffix("/head"), let head = Self.decodeHead(value) else { continue }
            let start = id.bytes.count + 2
            let length = Int(key[id.bytes.count + 1])
            guard key.count >= start + length, let log = try? PeerID(bytes: key[start..<start + length]) else {
                continue
            }
            out[log] = head
        }
        return out
    }

    public func head(of log: PeerID, in id: ThreadID) throws(ThreadsError) -> Head? {
        try wrap { try logSpace.get(logPrefix(id, log) + Array("/head".utf8)) }.flatMap(Self.decodeHead)
    }

    static func encodeHead(_ head: Head) -> [UInt8] {
        (try? DagCBOR.encode(.map(["cid": .link(head.cid), "seq": .integer(IPLDInteger(head.sequence))]))) ?? []
    }

    static func decodeHead(_ bytes: [UInt8]) -> Head? {
        guard let fields = (try? DagCBOR.decode(bytes))?.mapValue, let cid = fields["cid"]?.linkValue,
            let sequence = fields["seq"]?.integerValue, !sequence.isNegative
        else { return nil }
        return Head(cid: cid, sequence: sequence.argument)
    }

    // MARK: - Members

    /// Records `peer` as a member of the thread (someone to replicate with), with the addresses it
    /// can be dialled at when known.
    public func addMember(_ peer: PeerID, to id: ThreadID, addresses: [Multiaddr] = []) throws(ThreadsError) {
        let key = threadKey(id, "member/") + peer.bytes
        let existing = try wrap { try threadSpace.get(key) }
        var known = existing.flatMap(Self.decodeAddresses) ?? []
        if existing != nil && addresses.allSatisfy(known.contains) { return }
        for address in addresses where !known.contains(address) { known.append(address) }
        let value = (try? DagCBOR.encode(.list(known.suffix(16).map { .bytes($0.bytes) }))) ?? []
        try wrap { try threadSpace.put(key, value) }
    }

    /// The members of a thread this node replicates with.
    public func members(of id: ThreadID) throws(ThreadsError) -> [PeerID] {
        let prefix = threadKey(id, "member/")
        return try wrap {
            try threadSpace.scan(prefix: prefix).compactMap { try? PeerID(bytes: $0.key.dropFirst(prefix.count)) }
        }
    }

    /// The addresses recorded for a member.
    public func addresses(of peer: PeerID, in id: ThreadID) throws(ThreadsError) -> [Multiaddr] {
        try wrap { try threadSpace.get(threadKey(id, "member/") + peer.bytes) }.flatMap(Self.decodeAddresses) ?? []
    }

    static func decodeAddresses(_ bytes: [UInt8]) -> [Multiaddr]? {
        (try? DagCBOR.decode(bytes))?.listValue?.compactMap { $0.bytesValue.flatMap { try? Multiaddr(bytes: $0) } }
    }

    // MARK: - Own log

    /// This node's log key in the thread, made (and stored) on first use.
    public func ownLogKey(in id: ThreadID) throws(ThreadsError) -> Ed25519.PrivateKey {
        let key = threadKey(id, "own-log")
        if let seed = try wrap({ try threadSpace.get(key) }) {
            do { return try Ed25519.PrivateKey(seed: seed) } catch { throw .store("own log key of \(id): \(error)") }
        }
        let created = Ed25519.PrivateKey()
        try wrap { try threadSpace.put(key, created.seed.unsafeCopy, sync: true) }
        return created
    }

    /// Appends `body` as a new record of this node's log in the thread and returns it once it is
    /// durably stored.
    @discardableResult
    public func append(_ body: [UInt8], to id: ThreadID, now: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000))
        throws(ThreadsError) -> (record: ThreadRecord, blocks: ThreadRecord.Blocks)
    {
        guard let key = try key(of: id) else { throw .unknownThread(id) }
        let logKey = try ownLogKey(in: id)
        return try wrap {
            try writer.withLock { clock in
                let log = logKey.publicKey.peerID
                let head = try self.head(of: log, in: id)
                let (record, blocks) = try ThreadRecord.create(
                    thread: id,
                    key: key,
                    logKey: logKey,
                    prev: head.map { ($0.cid, $0.sequence) },
                    body: body,
                    time: now,
                    clock: clock.tick(now: now)
                )
                try store(
                    record,
                    blocks: blocks.all,
                    entry: Entry(
                        record: record.cid,
                        event: blocks.event.cid,
                        header: blocks.header.cid,
                        body: blocks.body.cid
                    ),
                    in: id
                )
                return (record, blocks)
            }
        }
    }

    // MARK: - Records from peers

    /// Verifies a record received from a peer and stores it with its event, header and body.
    ///
    /// The record must continue its log exactly (the next sequence number, `prev` = the current
    /// head); the event, header and body blocks must be the ones it links to (their bytes are
    /// hashed against the links). Nothing is stored when any check fails.
    @discardableResult
    public func ingest(record block: Block, event: Block, header: Block, body: Block, into id: ThreadID)
        throws(ThreadsError)
        -> ThreadRecord
    {
        guard let key = try key(of: id) else { throw .unknownThread(id) }
        // The blocks must be what their CIDs say (a block made with init(unchecked:) is re-hashed).
        for part in [block, event, header, body] {
            guard (try? Block(cid: part.cid, bytes: part.bytes)) != nil else {
                throw .malformed("block \(part.cid) does not match its CID")
            }
        }
        let record = try ThreadRecord.open(block, thread: id, key: key)
        guard event.cid == record.event else { throw .malformed("the event block is not the record's event") }
        let links = try ThreadRecord.eventLinks(event)
        guard header.cid == links.header, body.cid == links.body else {
            throw .malformed("the header or body block is not the event's")
        }
        return try wrap {
            try writer.withLock { clock in
                let head = try self.head(of: record.log, in: id)
                if let head, head.sequence >= record.sequence {
                    // Already have this sequence number: the same record is a no-op, another one is
                    // a fork of the log, which a single writer never makes.
                    guard let stored = try self.entry(of: record.log, sequence: record.sequence, in: id),
                        stored.record == record.cid
                    else {
                        throw ThreadsError.brokenChain(
                            "log \(record.log) already has a different record \(record.sequence)"
                        )
                    }
                    return record
                }
                let expected = head.map { $0.sequence + 1 } ?? 0
                guard record.sequence == expected else {
                    throw ThreadsError.brokenChain(
                        "record \(record.sequence) of \(record.log) arrived before record \(expected)"
                    )
                }
                guard record.prev == head?.cid else {
                    throw ThreadsError.brokenChain(
                        "record \(record.sequence) of \(record.log) does not link to the head"
                    )
                }
                if let readable = try? ThreadRecord.openHeader(header, thread: id, key: key) {
                    clock.observe(readable.clock, now: UInt64(Date().timeIntervalSince1970 * 1000))
                }
                try store(
                    record,
                    blocks: [block, event, header, body],
                    entry: Entry(record: record.cid, event: event.cid, header: header.cid, body: body.cid),
                    in: id
                )
                return record
            }
        }
    }

    private func store(_ record: ThreadRecord, blocks: [Block], entry: Entry, in id: ThreadID) throws {
        var extra = WriteBatch()
        logSpace.put(indexKey(id, record.log, record.sequence), Self.encodeEntry(entry), in: &extra)
        logSpace.put(
            logPrefix(id, record.log) + Array("/head".utf8),
            Self.encodeHead(Head(cid: record.cid, sequence: record.sequence)),
            in: &extra
        )
        try blockstore.put(blocks, alongWith: extra, sync: true)
    }

    static func encodeEntry(_ entry: Entry) -> [UInt8] {
        (try? DagCBOR.encode(
            .map(["r": .link(entry.record), "e": .link(entry.event), "h": .link(entry.header), "b": .link(entry.body)])
        )) ?? []
    }

    static func decodeEntry(_ bytes: [UInt8]) -> Entry? {
        guard let fields = (try? DagCBOR.decode(bytes))?.mapValue, let record = fields["r"]?.linkValue,
            let event = fields["e"]?.linkValue, let header = fields["h"]?.linkValue, let body = fields["b"]?.linkValue
        else { return nil }
        return Entry(record: record, event: event, header: header, body: body)
    }

    /// The stored record `sequence` of a log.
    public func entry(of log: PeerID, sequence: UInt64, in id: ThreadID) throws(ThreadsError) -> Entry? {
        try wrap { try logSpace.get(indexKey(id, log, sequence)) }.flatMap(Self.decodeEntry)
    }

    /// Records of a log from `sequence` on, oldest first, at most `limit`.
    public func entries(of log: PeerID, from sequence: UInt64 = 0, limit: Int = .max, in id: ThreadID)
        throws(ThreadsError)
        -> [(sequence: UInt64, entry: Entry)]
    {
        var out: [(UInt64, Entry)] = []
        var next = sequence
        while out.count < limit, let entry = try self.entry(of: log, sequence: next, in: id) {
            out.append((next, entry))
            next += 1
        }
        return out
    }

    /// The decrypted body and header of a stored record (needs the read key).
    public func read(_ entry: Entry, in id: ThreadID) throws(ThreadsError) -> (header: EventHeader, body: [UInt8]) {
        guard let key = try key(of: id) else { throw .unknownThread(id) }
        func load(_ cid: CID) throws(ThreadsError) -> Block {
            guard let bytes = try wrap({ try blockstore.get(cid) }) else { throw .store("block \(cid) is missing") }
            return Block(unchecked: cid, bytes: bytes)
        }
        let header = try ThreadRecord.openHeader(load(entry.header), thread: id, key: key)
        return (header, try ThreadRecord.openBody(load(entry.body), header: header, thread: id))
    }

    // MARK: - Deleting

    /// Removes a thread: its key, logs, heads, index and every block of its records.
    public func deleteThread(_ id: ThreadID) throws(ThreadsError) {
        let heads = try heads(of: id)
        var blocks: [CID] = []
        for log in heads.keys {
            for (_, entry) in try entries(of: log, in: id) {
                blocks += [entry.record, entry.event, entry.header, entry.body]
            }
        }
        try wrap {
            var batch = WriteBatch()
            for (key, _) in try logSpace.scan(prefix: id.bytes + [UInt8(ascii: "/")]) {
                logSpace.delete(key, in: &batch)
            }
            for (key, _) in try threadSpace.scan(prefix: id.bytes + [UInt8(ascii: "/")]) {
                threadSpace.delete(key, in: &batch)
            }
            try database.write(batch, sync: true)
            for cid in blocks { try blockstore.delete(cid) }
            try blockstore.sync()
        }
    }
}

extension [UInt8] {
    func hasSuffix(_ text: String) -> Bool {
        count >= text.utf8.count && suffix(text.utf8.count).elementsEqual(text.utf8)
    }
}
