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
    /// Appends and ingests are serialised: each reads a head and writes the next one. Heads of own
    /// appends still being committed are kept here, so the next append builds on them.
    private let writer = Mutex<WriterState>(WriterState())
    let committer: GroupCommitter
    /// Thread keys, own log keys and owners as read from the store: appends need them every time.
    private let cache = Mutex<Cache>(Cache())
    /// Held while an own log key is made or replaced, so each thread gets exactly one.
    private let logKeyChanges = Mutex(())
    /// Held while a member's addresses are merged.
    private let memberChanges = Mutex(())

    private struct Cache {
        var keys: [ThreadID: ThreadKey] = [:]
        var logKeys: [ThreadID: Ed25519.PrivateKey] = [:]
        /// An access-controlled thread's owner never changes once recorded.
        var owners: [ThreadID: PeerID] = [:]
    }

    struct WriterState {
        /// Heads of records queued for the disk, newer than the stored ones.
        var pendingHeads: [LogRef: Head] = [:]
        /// The committer's generation `pendingHeads` belong to: after a failed write, the records
        /// they name may never reach the disk, and appends start again from the stored heads.
        var generation: UInt64 = 0
    }

    /// Apart from `writer`, so stamping an event never waits for a record being signed.
    private let clock = Mutex(HybridLogicalClock())

    /// Async appends whose events are encrypted, waiting to be signed into their logs in turn.
    ///
    /// One caller at a time (`draining`) signs everything queued under `writer`, while the others
    /// suspend instead of blocking their threads on that lock: those threads go on encrypting the
    /// next events, and the lock changes hands once per batch, not once per record.
    private let signQueue = Mutex(SignQueue())

    private struct SignQueue {
        var waiting: [(event: PreparedEvent, continuation: AppendContinuation)] = []
        var draining = false
    }

    /// An append before it takes its place in the log: the keys it needs and its event, encrypted.
    private struct PreparedEvent: Sendable {
        let id: ThreadID
        let key: ThreadKey
        let logKey: Ed25519.PrivateKey
        let event: Block
        let header: Block
        let body: Block
    }

    public init(database: Database, blockstore: Blockstore) {
        self.database = database
        self.blockstore = blockstore
        threadSpace = Keyspace(database, prefix: Keyspace.threads)
        logSpace = Keyspace(database, prefix: Keyspace.logs)
        committer = GroupCommitter(blockstore: blockstore)
    }

    /// A log head: the newest record of a log this node has, and its sequence number.
    public struct Head: Sendable, Equatable {
        public let cid: CID
        public let sequence: UInt64
    }

    /// The CIDs of one stored record and its event's parts, and the read-key epoch of its header.
    public struct Entry: Sendable, Equatable {
        public let record: CID
        public let event: CID
        public let header: CID
        public let body: CID
        public var epoch: UInt32 = 0
    }

    /// What a log may do in an access-controlled thread.
    public enum LogRole: String, Sendable, Equatable {
        case owner, writer, reader, revoked
    }

    /// A log's role and, once revoked, how many of its records stay valid.
    struct Access: Equatable {
        var role: LogRole
        var kept: UInt64 = 0

        var encoded: [UInt8] { Array((role == .revoked ? "revoked:\(kept)" : role.rawValue).utf8) }

        init(role: LogRole, kept: UInt64 = 0) {
            self.role = role
            self.kept = kept
        }

        init?(_ bytes: [UInt8]) {
            let text = String(decoding: bytes, as: UTF8.self)
            if text.hasPrefix("revoked:"), let kept = UInt64(text.dropFirst("revoked:".count)) {
                self.init(role: .revoked, kept: kept)
            } else if let role = LogRole(rawValue: text) {
                self.init(role: role)
            } else {
                return nil
            }
        }
    }

    // MARK: - Keys

    private func threadKey(_ id: ThreadID, _ suffix: String) -> [UInt8] { id.bytes + Array("/\(suffix)".utf8) }

    /// Heads live apart from the record index, so listing a thread's heads reads only heads.
    private func headKey(_ id: ThreadID, _ log: PeerID) -> [UInt8] {
        id.bytes + Array("/head/".utf8) + log.bytes
    }

    private func indexKey(_ id: ThreadID, _ log: PeerID, _ sequence: UInt64) -> [UInt8] {
        id.bytes + Array("/rec/".utf8) + [UInt8(log.bytes.count)] + log.bytes + [UInt8(ascii: "/")]
            + withUnsafeBytes(of: sequence.bigEndian) { Array($0) }
    }

    private func wrap<T>(_ body: () throws -> T) throws(ThreadsError) -> T {
        do { return try body() } catch let error as ThreadsError { throw error } catch { throw .store("\(error)") }
    }

    // MARK: - Threads

    /// Records a thread and its key (a newly created or joined thread). An access-controlled
    /// thread also needs its owner's log: only the owner's log carries the access log.
    public func addThread(_ id: ThreadID, key: ThreadKey, owner: PeerID? = nil) throws(ThreadsError) {
        try wrap {
            var batch = WriteBatch()
            threadSpace.put(threadKey(id, "key"), key.bytes, in: &batch)
            if let owner { threadSpace.put(threadKey(id, "owner"), owner.bytes, in: &batch) }
            try database.write(batch, sync: true)
        }
        cache.withLock {
            $0.keys[id] = key
            $0.owners[id] = owner
        }
    }

    /// The owner log of an access-controlled thread.
    public func owner(of id: ThreadID) throws(ThreadsError) -> PeerID? {
        if let cached = cache.withLock({ $0.owners[id] }) { return cached }
        guard let raw = try wrap({ try threadSpace.get(threadKey(id, "owner")) }), let owner = try? PeerID(bytes: raw)
        else { return nil }
        cache.withLock { $0.owners[id] = owner }
        return owner
    }

    /// Makes `logKey` this node's log key in the thread (the one an invite handed over).
    public func setOwnLogKey(_ logKey: Ed25519.PrivateKey, in id: ThreadID) throws(ThreadsError) {
        try logKeyChanges.withLock { _ throws(ThreadsError) in
            try wrap { try threadSpace.put(threadKey(id, "own-log"), logKey.seed.unsafeCopy, sync: true) }
            cache.withLock { $0.logKeys[id] = logKey }
        }
    }

    /// The role of `log` in an access-controlled thread (nil: never admitted).
    public func role(of log: PeerID, in id: ThreadID) throws(ThreadsError) -> LogRole? {
        if try owner(of: id) == log { return .owner }
        guard let raw = try wrap({ try threadSpace.get(threadKey(id, "acl/") + log.bytes) }) else { return nil }
        return Access(raw)?.role
    }

    /// Every log with a role in the thread.
    public func roles(in id: ThreadID) throws(ThreadsError) -> [PeerID: LogRole] {
        try accessList(in: id).mapValues(\.role)
    }

    func accessList(in id: ThreadID) throws(ThreadsError) -> [PeerID: Access] {
        let prefix = threadKey(id, "acl/")
        var out: [PeerID: Access] = [:]
        for (key, value) in try wrap({ try threadSpace.scan(prefix: prefix) }) {
            guard let log = try? PeerID(bytes: key.dropFirst(prefix.count)), let access = Access(value) else {
                continue
            }
            out[log] = access
        }
        if let owner = try owner(of: id) { out[owner] = Access(role: .owner) }
        return out
    }

    public func key(of id: ThreadID) throws(ThreadsError) -> ThreadKey? {
        if let cached = cache.withLock({ $0.keys[id] }) { return cached }
        guard let bytes = try wrap({ try threadSpace.get(threadKey(id, "key")) }) else { return nil }
        let key = try ThreadKey(bytes: bytes)
        cache.withLock { $0.keys[id] = key }
        return key
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
        let prefix = id.bytes + Array("/head/".utf8)
        var out: [PeerID: Head] = [:]
        for (key, value) in try wrap({ try logSpace.scan(prefix: prefix) }) {
            guard let log = try? PeerID(bytes: key.dropFirst(prefix.count)), let head = Self.decodeHead(value) else {
                continue
            }
            out[log] = head
        }
        return out
    }

    public func head(of log: PeerID, in id: ThreadID) throws(ThreadsError) -> Head? {
        try wrap { try logSpace.get(headKey(id, log)) }.flatMap(Self.decodeHead)
    }

    static func encodeHead(_ head: Head) -> [UInt8] {
        var map = DagCBORMapWriter(count: 2)
        map.key("cid")
        map.link(head.cid)
        map.key("seq")
        map.unsigned(head.sequence)
        return map.encoded
    }

    static func decodeHead(_ bytes: [UInt8]) -> Head? {
        do {
            var map = try DagCBORMapReader(bytes)
            try map.key("cid")
            let cid = try map.link()
            try map.key("seq")
            let sequence = try map.unsigned()
            try map.end()
            return Head(cid: cid, sequence: sequence)
        } catch {
            return nil
        }
    }

    // MARK: - Members

    /// Records `peer` as a member of the thread (someone to replicate with), with the addresses it
    /// can be dialled at when known.
    public func addMember(_ peer: PeerID, to id: ThreadID, addresses: [Multiaddr] = []) throws(ThreadsError) {
        let key = threadKey(id, "member/") + peer.bytes
        // Read, merge and write as one step: two peers reporting addresses at once must not lose
        // one another's.
        try memberChanges.withLock { _ throws(ThreadsError) in
            let existing = try wrap { try threadSpace.get(key) }
            var known = existing.flatMap(Self.decodeAddresses) ?? []
            if existing != nil && addresses.allSatisfy(known.contains) { return }
            for address in addresses where !known.contains(address) { known.append(address) }
            let value = (try? DagCBOR.encode(.list(known.suffix(16).map { .bytes($0.bytes) }))) ?? []
            try wrap { try threadSpace.put(key, value) }
        }
    }

    /// Stops replicating the thread with `peer`: forgets it as a member, with its addresses. Its
    /// logs, records and role stay. Returns whether it was a member. A peer that later proves it
    /// holds the service key (by asking for records, or answering a pull) is a member again.
    @discardableResult
    public func removeMember(_ peer: PeerID, from id: ThreadID) throws(ThreadsError) -> Bool {
        let key = threadKey(id, "member/") + peer.bytes
        return try memberChanges.withLock { _ throws(ThreadsError) in
            guard try wrap({ try threadSpace.get(key) }) != nil else { return false }
            try wrap { try threadSpace.delete(key) }
            return true
        }
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
        if let cached = cache.withLock({ $0.logKeys[id] }) { return cached }
        // Concurrent first appends must agree on one key: two would start two logs, and only the
        // key stored last would survive a restart.
        return try logKeyChanges.withLock { _ throws(ThreadsError) in
            if let cached = cache.withLock({ $0.logKeys[id] }) { return cached }
            let key = threadKey(id, "own-log")
            let logKey: Ed25519.PrivateKey
            if let seed = try wrap({ try threadSpace.get(key) }) {
                do { logKey = try Ed25519.PrivateKey(seed: seed) } catch {
                    throw .store("own log key of \(id): \(error)")
                }
            } else {
                logKey = Ed25519.PrivateKey()
                try wrap { try threadSpace.put(key, logKey.seed.unsafeCopy, sync: true) }
            }
            cache.withLock { $0.logKeys[id] = logKey }
            return logKey
        }
    }

    /// Appends `body` as a new record of this node's log in the thread and returns it once it is
    /// durably stored, blocking meanwhile. It shares the synced write of the appends queued
    /// before it, which reach the disk first.
    @discardableResult
    public func append(_ body: [UInt8], to id: ThreadID, now: UInt64 = Logstore.now()) throws(ThreadsError)
        -> (record: ThreadRecord, blocks: ThreadRecord.Blocks)
    {
        try appendInOrder(body, to: id, now: now)
    }

    /// Builds and signs the next record, queues it behind the appends already waiting for the
    /// disk (a write of its own could overtake them, and their older head would then overwrite
    /// its newer one) and waits, blocking, until it is durable.
    ///
    /// `acl` makes an access entry under the log's lock, which ingest holds too, and the entry is
    /// on disk before that lock is let go: what the entry reads (the revoked log's head) cannot
    /// change before it is signed, and the records ingested next are checked against the roles it
    /// sets.
    private func appendInOrder(
        _ body: [UInt8],
        to id: ThreadID,
        now: UInt64,
        acl: (() throws(ThreadsError) -> AccessEntry)? = nil,
        rotatedKey: ThreadKey? = nil
    ) throws(ThreadsError) -> (record: ThreadRecord, blocks: ThreadRecord.Blocks) {
        let event = try prepareEvent(body, to: id, now: now, changesAccess: acl != nil)
        let pending = try writer.withLock { state throws(ThreadsError) in
            let pending = try sequence(event, acl: try acl?(), rotatedKey: rotatedKey, state: &state, writtenHere: true)
            if acl != nil { try waitWritten(pending.ticket) }
            return pending
        }
        if acl == nil { try waitWritten(pending.ticket) }
        return (pending.record, pending.blocks)
    }

    /// Blocks until the write of `ticket` is on disk. When it failed, so did every write queued
    /// with it, and the next append starts again from the stored head (`WriterState.generation`).
    private func waitWritten(_ ticket: UInt64) throws(ThreadsError) {
        do { try committer.waitBlocking(for: ticket) } catch { throw .store("\(error)") }
    }

    /// Appends like `append`, but shares the synced write with the appends made meanwhile (group
    /// commit): many concurrent appends cost one disk flush, and each still returns only once its
    /// record is durable.
    @discardableResult
    public func appendDurably(_ body: [UInt8], to id: ThreadID, now: UInt64 = Logstore.now()) async throws
        -> (record: ThreadRecord, blocks: ThreadRecord.Blocks)
    {
        let event = try prepareEvent(body, to: id, now: now, changesAccess: false)
        // Alone (nobody signing): sign right here, with no suspension, then take over whatever
        // queued meanwhile. Otherwise queue and let the caller that is signing sign this one too;
        // it resumes this one once the record is durable, so a queued append suspends only once.
        if claimSigning() {
            let pending = try writer.withLock { state throws(ThreadsError) in
                defer { drainSignQueue(&state) }
                return try sequence(event, acl: nil, rotatedKey: nil, state: &state)
            }
            try await pending.durable()
            return (pending.record, pending.blocks)
        }
        return try await withCheckedThrowingContinuation { (continuation: AppendContinuation) in
            if claimSigning(queueing: (event, continuation)) { writer.withLock { drainSignQueue(&$0) } }
        }
    }

    /// What a queued append waits for: its record and blocks, once they are durable.
    private typealias AppendContinuation = CheckedContinuation<
        (record: ThreadRecord, blocks: ThreadRecord.Blocks), any Error
    >

    /// Queues `waiting`, if given, and returns whether the caller is now the one signing (nobody
    /// was).
    private func claimSigning(
        queueing waiting: (event: PreparedEvent, continuation: AppendContinuation)? = nil
    ) -> Bool {
        signQueue.withLock { queue in
            if let waiting { queue.waiting.append(waiting) }
            guard !queue.draining else { return false }
            queue.draining = true
            return true
        }
    }

    /// Signs every waiting append, oldest first, until none is left, then stops draining. The queue
    /// is found empty and released under its lock, so an append queued meanwhile is either taken
    /// here or finds no one draining and drains itself. Called under `writer`.
    private func drainSignQueue(_ state: inout WriterState) {
        while true {
            let waiting = signQueue.withLock { queue in
                defer { queue.waiting = [] }
                if queue.waiting.isEmpty { queue.draining = false }
                return queue.waiting
            }
            guard !waiting.isEmpty else { return }
            for (event, continuation) in waiting {
                do throws(ThreadsError) {
                    let pending = try sequence(event, acl: nil, rotatedKey: nil, state: &state)
                    committer.whenDone(pending.ticket) { result in
                        switch result {
                        case .success: continuation.resume(returning: (pending.record, pending.blocks))
                        case .failure(let error): continuation.resume(throwing: ThreadsError.store("\(error)"))
                        }
                    }
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// A record built, signed and queued for the disk, not yet known to be durable.
    public struct PendingAppend: Sendable {
        public let record: ThreadRecord
        public let blocks: ThreadRecord.Blocks
        let ticket: UInt64
        let logstore: Logstore

        /// Returns once the record is on disk (its synced group is written).
        public func durable() async throws(ThreadsError) {
            do { try await logstore.committer.wait(for: ticket) } catch { throw ThreadsError.store("\(error)") }
        }
    }

    /// Builds, signs and queues the record without suspending; `durable()` then waits for the
    /// group commit, as `appendDurably` does. Records of one log reach the disk in the order they
    /// were begun, so a caller that orders its writes (the database, on its actor) gets them in its
    /// log in that order.
    public func beginAppend(_ body: [UInt8], to id: ThreadID, now: UInt64 = Logstore.now()) throws(ThreadsError)
        -> PendingAppend
    {
        let event = try prepareEvent(body, to: id, now: now, changesAccess: false)
        return try writer.withLock { state throws(ThreadsError) in
            try sequence(event, acl: nil, rotatedKey: nil, state: &state)
        }
    }

    public static func now() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    /// Checks that this node may append to the thread and encrypts the event: all of an append
    /// that does not depend on the log's state, so concurrent appends do it at once.
    private func prepareEvent(_ body: [UInt8], to id: ThreadID, now: UInt64, changesAccess: Bool) throws(ThreadsError)
        -> PreparedEvent
    {
        guard let key = try key(of: id) else { throw .unknownThread(id) }
        guard let readKey = key.read else {
            throw .notAllowed("this node holds no read key for \(id): it cannot write")
        }
        let logKey = try ownLogKey(in: id)
        if id.variant == .accessControlled {
            let role = try role(of: logKey.publicKey.peerID, in: id)
            guard role == .owner || (role == .writer && !changesAccess) else {
                throw .notAllowed(
                    !changesAccess
                        ? "this node's log is not a writer of \(id) (role: \(role?.rawValue ?? "none"))"
                        : "only the owner of \(id) changes its access log"
                )
            }
        } else if changesAccess {
            throw .notAllowed("\(id) is a raw thread: it has no access log")
        }
        let stamp = clock.withLock { $0.tick(now: now) }
        let event = try ThreadRecord.makeEvent(thread: id, readKey: readKey, body: body, time: now, clock: stamp)
        return PreparedEvent(
            id: id,
            key: key,
            logKey: logKey,
            event: event.event,
            header: event.header,
            body: event.body
        )
    }

    /// Signs the record that appends `event` to its log and queues its writes for the disk, both
    /// under `writer`, which orders the log: the disk sees the records in the order they were
    /// signed.
    private func sequence(
        _ event: PreparedEvent,
        acl: AccessEntry?,
        rotatedKey: ThreadKey?,
        state: inout WriterState,
        writtenHere: Bool = false
    ) throws(ThreadsError) -> PendingAppend {
        let id = event.id
        let log = event.logKey.publicKey.peerID
        let generation = committer.generation
        if generation != state.generation {
            state.pendingHeads = [:]
            state.generation = generation
        }
        var head = state.pendingHeads[LogRef(thread: id, log: log)]
        if head == nil { head = try self.head(of: log, in: id) }
        let (record, recordBlock) = try ThreadRecord.makeRecord(
            thread: id,
            key: event.key,
            logKey: event.logKey,
            prev: head.map { ($0.cid, $0.sequence) },
            event: event.event.cid,
            epoch: event.key.epoch,
            acl: acl
        )
        state.pendingHeads[LogRef(thread: id, log: log)] = Head(cid: record.cid, sequence: record.sequence)
        let blocks = ThreadRecord.Blocks(
            record: recordBlock,
            event: event.event,
            header: event.header,
            body: event.body
        )
        let entry = Entry(
            record: record.cid,
            event: event.event.cid,
            header: event.header.cid,
            body: event.body.cid,
            epoch: event.key.epoch
        )
        var batch = indexWrite(record, entry: entry, in: id)
        if let acl { batch.append(contentsOf: aclWrites(acl, in: id)) }
        if let rotatedKey { threadSpace.put(threadKey(id, "key"), rotatedKey.bytes, in: &batch) }
        // The head goes apart: appends that share a synced write then write it once.
        let newHead = headWrite(Head(cid: record.cid, sequence: record.sequence), of: log, in: id)
        let ticket = committer.enqueue(
            blocks.all,
            batch,
            head: newHead,
            generation: generation,
            writtenByCaller: writtenHere
        )
        return PendingAppend(record: record, blocks: blocks, ticket: ticket, logstore: self)
    }

    /// The role changes an access entry makes.
    private func aclWrites(_ entry: AccessEntry, in id: ThreadID) -> WriteBatch {
        var batch = WriteBatch()
        switch entry {
        case .admit(let log, let role):
            threadSpace.put(
                threadKey(id, "acl/") + log.bytes,
                Access(role: role == .writer ? .writer : .reader).encoded,
                in: &batch
            )
        case .revoke(let log, let kept, _, _):
            threadSpace.put(threadKey(id, "acl/") + log.bytes, Access(role: .revoked, kept: kept).encoded, in: &batch)
        }
        return batch
    }

    // MARK: - Access log (owner)

    /// Admits a new member: makes its log key, records it in the access log as `role`, and returns
    /// the record (to push) and the key (for the invite). Owner only.
    public func admit(_ role: AccessEntry.Role, in id: ThreadID) throws(ThreadsError)
        -> (logKey: Ed25519.PrivateKey, record: ThreadRecord, blocks: ThreadRecord.Blocks)
    {
        let member = Ed25519.PrivateKey()
        let (record, blocks) = try appendInOrder(
            [],
            to: id,
            now: Logstore.now(),
            acl: { .admit(log: member.publicKey.peerID, role: role) }
        )
        return (member, record, blocks)
    }

    /// Revokes `log`: records it in the access log and starts a new read-key epoch whose key is
    /// sealed to every remaining member, so the revoked member cannot read what is written next.
    /// Owner only.
    public func revoke(_ log: PeerID, in id: ThreadID) throws(ThreadsError) -> (
        record: ThreadRecord, blocks: ThreadRecord.Blocks
    ) {
        guard let key = try key(of: id) else { throw .unknownThread(id) }
        let roles = try roles(in: id)
        guard let current = roles[log], current != .revoked else {
            throw .notAllowed("\(log) is not a member of \(id)")
        }
        guard current != .owner else { throw .notAllowed("the owner cannot be revoked") }
        let remaining = roles.filter { $0.value != .revoked && $0.key != log }.map(\.key).sorted()
        let read = SymmetricKey()
        let sealed = try AccessEntry.seal(read, to: remaining)
        let rotated = key.rotated(to: read)
        // The records of the log accepted so far stay valid everywhere, whatever order others
        // receive them in. Counted under the log's lock, which ingest holds too: a record of the
        // member stored here is either counted or comes after the revocation.
        let (record, blocks) = try appendInOrder(
            [],
            to: id,
            now: Logstore.now(),
            acl: { () throws(ThreadsError) in
                let kept = try self.head(of: log, in: id).map { $0.sequence + 1 } ?? 0
                return .revoke(log: log, kept: kept, epoch: rotated.epoch, keys: sealed)
            },
            rotatedKey: rotated
        )
        cache.withLock { $0.keys[id] = rotated }
        return (record, blocks)
    }

    /// One log of one thread.
    struct LogRef: Hashable {
        let thread: ThreadID
        let log: PeerID
    }

    // MARK: - Records from peers

    /// One record as its four blocks.
    public struct IncomingRecord: Sendable {
        public let record: Block
        public let event: Block
        public let header: Block
        public let body: Block
        /// Whether the body travelled with the record rather than being fetched on its own
        /// (through the exchange, which stores what it fetches).
        public let bodyCameInline: Bool

        /// - Parameter bodyCameInline: true only when the body's bytes arrived with the record: it
        ///   is then new to this store, as the event and header are, and storing it skips the
        ///   "already stored?" read a fetched body needs.
        public init(record: Block, event: Block, header: Block, body: Block, bodyCameInline: Bool = false) {
            self.record = record
            self.event = event
            self.header = header
            self.body = body
            self.bodyCameInline = bodyCameInline
        }
    }

    /// Verifies a record received from a peer and stores it with its event, header and body.
    @discardableResult
    public func ingest(record block: Block, event: Block, header: Block, body: Block, into id: ThreadID)
        throws(ThreadsError)
        -> ThreadRecord
    {
        try ingest([IncomingRecord(record: block, event: event, header: header, body: body)], into: id)[0]
    }

    /// A record that passed every check that needs no log state (see `verify`).
    public struct VerifiedRecord: Sendable {
        public let record: ThreadRecord
        public let incoming: IncomingRecord
        /// The decrypted header, when this node holds the read key.
        public let header: EventHeader?
    }

    /// Verifies records received from a peer, in order, and stores them in one synced write.
    @discardableResult
    public func ingest(_ records: [IncomingRecord], into id: ThreadID) throws(ThreadsError) -> [ThreadRecord] {
        var verified: [VerifiedRecord] = []
        var failure: ThreadsError?
        for incoming in records {
            do { verified.append(try verify(incoming, in: id)) } catch {
                failure = error
                break
            }
        }
        let stored = try ingest(verified: verified, into: id)
        if let failure { throw failure }
        return stored
    }

    /// Stores verified records in one synced write, checking that each continues its log.
    ///
    /// Each record must continue its log exactly (the next sequence number, `prev` = the head as
    /// it stands after the records before it). A record the log already has is skipped. At the
    /// first record that fails, the ones before it are stored and the error is thrown: nothing of
    /// a failing record is ever stored.
    @discardableResult
    public func ingest(verified records: [VerifiedRecord], into id: ThreadID) throws(ThreadsError) -> [ThreadRecord] {
        try wrap {
            try writer.withLock { state in
                var heads: [PeerID: Head?] = [:]
                var accepted: [ThreadRecord] = []
                var blocks: [Block] = []
                var added = Set<CID>(minimumCapacity: records.count * 4)
                var batch = WriteBatch()
                var failure: (any Error)?
                var key = try self.key(of: id)
                let owner = try self.owner(of: id)
                var roles = id.variant == .accessControlled ? try self.accessList(in: id) : [:]
                for verified in records {
                    let record = verified.record
                    let incoming = verified.incoming
                    do {
                        let head = try heads[record.log] ?? self.head(of: record.log, in: id)
                        if let head, head.sequence >= record.sequence {
                            // Already there: the same record is a no-op; another one with that
                            // number is a fork of the log, which a single writer never makes.
                            let known =
                                try self.entry(of: record.log, sequence: record.sequence, in: id)?.record
                                ?? accepted.first { $0.log == record.log && $0.sequence == record.sequence }?.cid
                            guard known == record.cid else {
                                throw ThreadsError.brokenChain(
                                    "log \(record.log) already has a different record \(record.sequence)"
                                )
                            }
                            accepted.append(record)
                            continue
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
                        try checkAccess(record, in: id, owner: owner, roles: &roles)
                        if case .revoke(_, _, let epoch, let sealed)? = record.acl, let current = key,
                            epoch == current.epoch + 1, let own = try? ownLogKey(in: id),
                            let box = sealed[own.publicKey.peerID], let read = AccessEntry.open(box, with: own)
                        {
                            // This node stays a member: it can read the new epoch.
                            key = current.rotated(to: read)
                            threadSpace.put(threadKey(id, "key"), current.rotated(to: read).bytes, in: &batch)
                        }
                        if let header = verified.header {
                            clock.withLock { $0.observe(header.clock, now: Logstore.now()) }
                        }
                        let entry = Entry(
                            record: record.cid,
                            event: incoming.event.cid,
                            header: incoming.header.cid,
                            body: incoming.body.cid,
                            epoch: record.epoch
                        )
                        batch.append(contentsOf: indexWrite(record, entry: entry, in: id))
                        if let acl = record.acl { batch.append(contentsOf: aclWrites(acl, in: id)) }
                        // Record, event and header of a record new to its log are new blocks (each
                        // holds a fresh nonce or links to one), and so is a body that came with
                        // them; a body fetched on its own is in the store already (the exchange
                        // stores what it fetches). Reading the store for every body cost about
                        // 3 % of a catch-up's CPU (a LevelDB lookup walks the memtable).
                        // A writer could point two of its records at one event; `new` stores
                        // must hold each block once.
                        for block in [incoming.record, incoming.event, incoming.header]
                        where added.insert(block.cid).inserted {
                            blocks.append(block)
                        }
                        if try incoming.bodyCameInline || !blockstore.has(incoming.body.cid),
                            added.insert(incoming.body.cid).inserted
                        {
                            blocks.append(incoming.body)
                        }
                        heads[record.log] = Head(cid: record.cid, sequence: record.sequence)
                        accepted.append(record)
                    } catch {
                        failure = error
                        break
                    }
                }
                // Each log's head once, at the newest record this batch adds to it.
                for case (let log, let head?) in heads {
                    let write = headWrite(head, of: log, in: id)
                    batch.put(write.key, write.value)
                }
                if !blocks.isEmpty || !batch.isEmpty {
                    try blockstore.put(blocks, alongWith: batch, sync: true, new: true)
                }
                if let key { cache.withLock { $0.keys[id] = key } }
                if let failure { throw failure }
                return accepted
            }
        }
    }

    /// Refuses records from logs without the right to write, and applies access entries to `roles`
    /// (so later records of the same batch see them).
    private func checkAccess(_ record: ThreadRecord, in id: ThreadID, owner: PeerID?, roles: inout [PeerID: Access])
        throws(ThreadsError)
    {
        guard id.variant == .accessControlled else {
            if record.acl != nil { throw .notAllowed("\(id) is a raw thread: it has no access log") }
            return
        }
        guard let owner else { throw .notAllowed("the owner of \(id) is unknown: cannot check who may write") }
        if let acl = record.acl {
            guard record.log == owner else { throw .notAllowed("only the owner's log carries the access log") }
            switch acl {
            case .admit(let log, let role):
                guard log != owner else { throw .notAllowed("the owner cannot be admitted again") }
                roles[log] = Access(role: role == .writer ? .writer : .reader)
            case .revoke(let log, let kept, _, _):
                guard log != owner else { throw .notAllowed("the owner cannot be revoked") }
                roles[log] = Access(role: .revoked, kept: kept)
            }
            return
        }
        let access = record.log == owner ? Access(role: .owner) : roles[record.log]
        switch access?.role {
        case .owner?, .writer?: return
        case .revoked? where record.sequence < access?.kept ?? 0: return
        default:
            throw .notAllowed("log \(record.log) may not write to \(id) (role: \(access?.role.rawValue ?? "none"))")
        }
    }

    /// The checks of Specs/threads.md that need no log state: hashes, decryption, fields,
    /// signature, and that the event, header and body are the record's. Safe to run on many
    /// records at once, off any lock.
    /// `hashed`: the caller made the blocks from their bytes (`Block(bytes:codec:)`), so their CIDs
    /// are the hashes already and need no second pass.
    /// - Parameter opened: the record as the caller already opened it (signature checked) from
    ///   this same record block; it is used only when its CID is the block's.
    public func verify(
        _ incoming: IncomingRecord,
        in id: ThreadID,
        hashed: Bool = false,
        opened: ThreadRecord? = nil
    ) throws(ThreadsError) -> VerifiedRecord {
        guard let key = try key(of: id) else { throw .unknownThread(id) }
        // The blocks must be what their CIDs say (a block made with init(unchecked:) is re-hashed).
        for part in [incoming.record, incoming.event, incoming.header, incoming.body] where !hashed {
            guard (try? Block(cid: part.cid, bytes: part.bytes)) != nil else {
                throw .malformed("block \(part.cid) does not match its CID")
            }
        }
        let record: ThreadRecord
        if let opened, opened.cid == incoming.record.cid {
            record = opened
        } else {
            record = try ThreadRecord.open(incoming.record, thread: id, key: key)
        }
        guard incoming.event.cid == record.event else { throw .malformed("the event block is not the record's event") }
        let links = try ThreadRecord.eventLinks(incoming.event)
        guard incoming.header.cid == links.header, incoming.body.cid == links.body else {
            throw .malformed("the header or body block is not the event's")
        }
        // A header of an epoch this node has no key for (it is a replica, or was revoked) is
        // stored unread; one it can open must open.
        let header =
            key.readKey(epoch: record.epoch) != nil
            ? try ThreadRecord.openHeader(incoming.header, thread: id, key: key, epoch: record.epoch) : nil
        return VerifiedRecord(record: record, incoming: incoming, header: header)
    }

    /// The record's index entry. The log's head is written apart, once for all the records of a
    /// log that one synced write stores.
    private func indexWrite(_ record: ThreadRecord, entry: Entry, in id: ThreadID) -> WriteBatch {
        var extra = WriteBatch()
        logSpace.put(indexKey(id, record.log, record.sequence), Self.encodeEntry(entry), in: &extra)
        return extra
    }

    /// The key and value that store `head` as the log's head.
    private func headWrite(_ head: Head, of log: PeerID, in id: ThreadID) -> GroupCommitter.Head {
        GroupCommitter.Head(key: logSpace.key(headKey(id, log)), value: Self.encodeHead(head))
    }

    static func encodeEntry(_ entry: Entry) -> [UInt8] {
        var map = DagCBORMapWriter(count: 5)
        map.key("b")
        map.link(entry.body)
        map.key("e")
        map.link(entry.event)
        map.key("h")
        map.link(entry.header)
        map.key("p")
        map.unsigned(UInt64(entry.epoch))
        map.key("r")
        map.link(entry.record)
        return map.encoded
    }

    static func decodeEntry(_ bytes: [UInt8]) -> Entry? {
        do {
            var map = try DagCBORMapReader(bytes)
            try map.key("b")
            let body = try map.link()
            try map.key("e")
            let event = try map.link()
            try map.key("h")
            let header = try map.link()
            // Entries written before read-key epochs have no "p": epoch 0.
            var epoch: UInt64 = 0
            if map.nextKey(is: "p") {
                try map.key("p")
                epoch = try map.unsigned()
            }
            try map.key("r")
            let record = try map.link()
            try map.end()
            return Entry(record: record, event: event, header: header, body: body, epoch: UInt32(clamping: epoch))
        } catch {
            return nil
        }
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
        // One range read over the index (keys end in the big-endian sequence), stopping at the
        // first gap, as a read per sequence would.
        let start = indexKey(id, log, sequence)
        let found = try wrap { try logSpace.scan(prefix: Array(start.dropLast(8)), from: start, limit: limit) }
        var out: [(UInt64, Entry)] = []
        var next = sequence
        for (key, value) in found {
            guard key.count == start.count,
                key.suffix(8).reduce(UInt64(0), { $0 << 8 | UInt64($1) }) == next,
                let entry = Self.decodeEntry(value)
            else { break }
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
        let header = try ThreadRecord.openHeader(load(entry.header), thread: id, key: key, epoch: entry.epoch)
        return (header, try ThreadRecord.openBody(load(entry.body), header: header, thread: id))
    }

    /// The access entry a stored record carries, if any (needs only the service key).
    public func accessEntry(of entry: Entry, in id: ThreadID) -> AccessEntry? {
        guard let key = try? key(of: id), let bytes = try? blockstore.get(entry.record),
            let record = try? ThreadRecord.open(Block(unchecked: entry.record, bytes: bytes), thread: id, key: key)
        else { return nil }
        return record.acl
    }

    // MARK: - Deleting

    /// Removes a thread: its key, logs, heads, index and every block of its records.
    public func deleteThread(_ id: ThreadID) throws(ThreadsError) {
        cache.withLock {
            $0.keys[id] = nil
            $0.logKeys[id] = nil
            $0.owners[id] = nil
        }
        writer.withLock { state in state.pendingHeads = state.pendingHeads.filter { $0.key.thread != id } }
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
