import DagCBOR
import Foundation
import Logging
import Multiformats
import Sodium
import Store
import Transport

/// Replication of thread logs over `/threads/log/1` (Specs/threads.md, "Replication"): new
/// records are pushed to the thread's connected members at once; members exchange heads on
/// connect and every `pullInterval`, and fetch what they miss oldest first, in batches.
///
/// Only members talk: every request carries a proof that the sender holds the thread's service
/// key, bound to its transport-proven peer ID, so a stranger learns nothing (not even whether the
/// thread exists here).
public actor Replicator {
    public static let protocolName = "/threads/log/1"
    /// Records per `records` answer (each with its four blocks).
    public static let batchSize = 1024
    /// Event bodies larger than this travel as a link, fetched through the block exchange, rather
    /// than inside the records message.
    public static let inlineBodyLimit = 16 << 10

    /// Records pulled in one go beyond this many are not forwarded (a long catch-up): the other
    /// members pull them themselves.
    static let forwardLimit = 1024

    /// Batches a pull fetches and verifies ahead of the one it is storing.
    static let pullDepth = 3

    /// Gets a block by CID from the network (the node passes the block exchange).
    public typealias BlockFetcher = @Sendable (CID) async throws -> [UInt8]

    public nonisolated let logstore: Logstore
    let manager: ConnectionManager
    let logger: Logger
    let pullInterval: Duration
    var tasks: [Task<Void, Never>] = []
    /// Pulls under way, per thread and peer: one runs at a time; a caller that finds one running
    /// waits for it and then for the next (shared with every caller that came meanwhile), so a
    /// returned pull has seen everything the peer had when it was called.
    var pulling: [String: (id: Int, task: Task<Int, Never>)] = [:]
    var nextPull = 0
    /// Threads and peers with a pull queued by a push, not started yet (see `pullAfterPush`).
    var queuedPushPulls: Set<String> = []
    /// Callers of `pull` waiting for a running pull of the same thread and peer: now, and the
    /// most there have been at once.
    private(set) var pullWaiters = (now: 0, most: 0)
    var subscribers: [Int: AsyncStream<(ThreadID, ThreadRecord)>.Continuation] = [:]
    /// The newest head sequence each peer reported per log in pulls (thread, log, peer): what
    /// this node knows exists. Kept per peer, so one peer withdrawing its claim leaves another's.
    var reportedHeads: [ThreadID: [PeerID: [PeerID: UInt64]]] = [:]

    /// Replication lag: records peers reported (in their heads) that this node does not hold yet,
    /// summed over threads and logs.
    public func lag() -> UInt64 {
        var total: UInt64 = 0
        for (thread, logs) in reportedHeads {
            // Claims about a thread deleted since are no lag: forget them.
            if case .success(nil) = Result(catching: { () throws(ThreadsError) in try logstore.key(of: thread) }) {
                reportedHeads[thread] = nil
                continue
            }
            let local = (try? logstore.heads(of: thread)) ?? [:]
            for (log, claims) in logs {
                guard let theirs = claims.values.max() else { continue }
                let ours = local[log].map { Int64($0.sequence) } ?? -1
                total += UInt64(max(0, Int64(theirs) - ours))
            }
        }
        return total
    }
    var nextSubscriber = 0

    /// Records from peers as they are stored (pushed or pulled), from now on.
    public func ingested() -> AsyncStream<(ThreadID, ThreadRecord)> {
        let (stream, continuation) = AsyncStream<(ThreadID, ThreadRecord)>.makeStream()
        let id = nextSubscriber
        nextSubscriber += 1
        subscribers[id] = continuation
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        return stream
    }

    private func unsubscribe(_ id: Int) {
        subscribers[id] = nil
    }

    private func announce(_ records: [ThreadRecord], in thread: ThreadID) {
        for record in records {
            for continuation in subscribers.values { continuation.yield((thread, record)) }
        }
    }

    let fetchBlock: BlockFetcher

    /// `fetchBlock` gets event bodies sent by link; without it, such a body must already be in
    /// the blockstore.
    public init(
        logstore: Logstore,
        manager: ConnectionManager,
        pullInterval: Duration = .seconds(30),
        fetchBlock: BlockFetcher? = nil,
        logger: Logger = Logger(label: "threads.replicator")
    ) {
        self.logstore = logstore
        self.manager = manager
        self.pullInterval = pullInterval
        let blockstore = logstore.blockstore
        self.fetchBlock =
            fetchBlock ?? { cid in
                guard let bytes = try blockstore.get(cid) else { throw ThreadsError.store("body \(cid) is not here") }
                return bytes
            }
        self.logger = logger
    }

    /// A record's blocks as they travel: three byte strings, then the body inline or, when large,
    /// its link.
    static func wire(_ blocks: [Block]) -> IPLD {
        .list(
            blocks.enumerated().map { index, block in
                index == 3 && block.bytes.count > inlineBodyLimit ? .link(block.cid) : .bytes(block.bytes)
            }
        )
    }

    /// Replaces body links by the bodies' bytes, fetching them (in parallel) through the exchange.
    /// A body is only fetched for a record whose signature verifies and whose event links to it,
    /// so a forged record never makes this node fetch and keep anything.
    ///
    /// - Returns: the lists with every body inline, and, for each record whose body was fetched,
    ///   the record as opened here (its signature checked), so it is not checked twice.
    func resolveBodies(_ lists: [[IPLD]], thread: ThreadID) async throws -> (
        lists: [[IPLD]], opened: [ThreadRecord?]
    ) {
        let fetch = fetchBlock
        var opened = [ThreadRecord?](repeating: nil, count: lists.count)
        guard lists.contains(where: { $0.count == 4 && $0[3].linkValue != nil }) else { return (lists, opened) }
        guard let key = try logstore.key(of: thread) else { throw ThreadsError.unknownThread(thread) }
        return try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            var out = lists
            for (index, list) in lists.enumerated() {
                guard list.count == 4, let link = list[3].linkValue else { continue }
                guard let rawRecord = list[0].bytesValue, let rawEvent = list[1].bytesValue else {
                    throw ThreadsError.malformed("a record travels as record, event, header, body")
                }
                let record = try ThreadRecord.open(
                    try Block(bytes: rawRecord, codec: Multicodec.dagCBOR),
                    thread: thread,
                    key: key
                )
                let event = try Block(bytes: rawEvent, codec: Multicodec.dagCBOR)
                guard event.cid == record.event, try ThreadRecord.eventLinks(event).body == link else {
                    throw ThreadsError.malformed("the body link is not the record's")
                }
                opened[index] = record
                group.addTask {
                    let bytes = try await fetch(link)
                    // The fetched bytes must be the linked block (the exchange checks too).
                    guard (try? Block(cid: link, bytes: bytes)) != nil else {
                        throw ThreadsError.malformed("body \(link) does not match its link")
                    }
                    return (index, bytes)
                }
            }
            for try await (index, bytes) in group { out[index][3] = .bytes(bytes) }
            return (out, opened)
        }
    }

    /// Registers the protocol's handlers; the replicator is made after the connection manager, so
    /// the handlers reach it through `slot`.
    public static func register(in protocols: inout MuxProtocols, slot: Slot<Replicator>) {
        protocols.handleRequests(protocolName) { request in
            guard let replicator = slot.value else { throw ThreadsError.notAllowed("not ready") }
            return .single(try await replicator.serve(request.payload, from: request.remotePeer))
        }
        protocols.handleOrderedMessages(protocolName) { request in
            await slot.value?.receivePush(request.payload, from: request.remotePeer)
        }
    }

    /// Pulls from peers as they connect, and from every member now and then.
    public func start() async {
        let events = await manager.events()
        tasks.append(
            Task { [weak self] in
                for await event in events {
                    guard case .connected(let peer, _) = event else { continue }
                    await self?.pullAll(from: peer)
                }
            }
        )
        let interval = pullInterval
        tasks.append(
            Task { [weak self] in
                // At once on start: a node back from a crash reconnects to its members, which then
                // pull what it wrote before it went down.
                await self?.pullEveryone()
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    await self?.pullEveryone()
                }
            }
        )
    }

    public func stop() {
        for task in tasks { task.cancel() }
        tasks.removeAll()
    }

    // MARK: - Membership proof

    static func proof(thread: ThreadID, key: ThreadKey, peer: PeerID) -> [UInt8] {
        key.service.withUnsafeBytes {
            HMACSHA256.authenticate(Array("threads-log/1:".utf8) + thread.bytes + peer.bytes, key: $0)
        }
    }

    /// The thread a request names, once its proof checks out for `peer`.
    func authorize(_ fields: [String: IPLD], peer: PeerID) throws(ThreadsError) -> (ThreadID, ThreadKey) {
        guard let raw = fields["thread"]?.bytesValue, let proof = fields["proof"]?.bytesValue else {
            throw .malformed("a request names a thread and carries a proof")
        }
        let thread = try ThreadID(bytes: raw)
        guard let key = try logstore.key(of: thread),
            Sodium.constantTimeEqual(proof, Self.proof(thread: thread, key: key, peer: peer))
        else { throw .notAllowed("not a member of that thread") }
        // A proven member: remember it as a peer of the thread.
        try? logstore.addMember(peer, to: thread)
        return (thread, key)
    }

    // MARK: - Serving

    func serve(_ payload: [UInt8], from peer: PeerID) throws -> [UInt8] {
        guard let fields = (try? DagCBOR.decode(payload))?.mapValue, let op = fields["op"]?.stringValue else {
            throw ThreadsError.malformed("a request is a DAG-CBOR map with 'op'")
        }
        let (thread, _) = try authorize(fields, peer: peer)
        switch op {
        case "heads":
            let heads = try logstore.heads(of: thread)
            let list: [IPLD] = heads.sorted { $0.key < $1.key }.map { log, head in
                .map(["log": .bytes(log.bytes), "seq": .integer(IPLDInteger(head.sequence)), "cid": .link(head.cid)])
            }
            return try DagCBOR.encode(.map(["heads": .list(list)]))
        case "records":
            guard let rawLog = fields["log"]?.bytesValue, let log = try? PeerID(bytes: rawLog),
                let from = fields["from"]?.integerValue, !from.isNegative
            else { throw ThreadsError.malformed("records needs log and from") }
            let entries = try logstore.entries(of: log, from: from.argument, limit: Self.batchSize, in: thread)
            var items: [IPLD] = []
            var bytes = 0
            func stored(_ cid: CID) throws -> Block {
                guard let data = try logstore.blockstore.get(cid) else {
                    throw ThreadsError.store("block \(cid) missing")
                }
                return Block(unchecked: cid, bytes: data)
            }
            for (_, entry) in entries {
                // An event holds only its two links (append writes it so and ingest accepts no
                // other form): rebuilding it spares a store read, a quarter of those per record.
                let rebuilt = try? Block(
                    cid: entry.event,
                    bytes: ThreadRecord.eventBytes(header: entry.header, body: entry.body)
                )
                let event = try rebuilt ?? stored(entry.event)
                let blocks = [try stored(entry.record), event, try stored(entry.header), try stored(entry.body)]
                let item = Self.wire(blocks)
                bytes += item.listValue?.reduce(0) { $0 + ($1.bytesValue?.count ?? 40) } ?? 0
                items.append(item)
                if bytes > 2 << 20 { break }  // stays well inside a 4 MiB frame
            }
            return try DagCBOR.encode(.map(["records": .list(items)]))
        default:
            throw ThreadsError.malformed("unknown op '\(op.prefix(40))'")
        }
    }

    // MARK: - Pushing

    /// Sends a new record to every connected member of its thread.
    public func push(_ blocks: ThreadRecord.Blocks, thread: ThreadID) async {
        guard let key = try? logstore.key(of: thread) else { return }
        let members = (try? logstore.members(of: thread)) ?? []
        for peer in members {
            guard let connection = await manager.connection(to: peer) else { continue }
            let message = IPLD.map([
                "op": .string("push"), "thread": .bytes(thread.bytes),
                "proof": .bytes(Self.proof(thread: thread, key: key, peer: manager.localPeer)),
                "blocks": Self.wire(blocks.all),
            ])
            guard let payload = try? DagCBOR.encode(message) else { continue }
            try? await connection.message(Self.protocolName, payload)
        }
    }

    /// Sends a pushed record's blocks, as received, to the thread's connected members but `sender`.
    func forward(_ blocks: [IPLD], thread: ThreadID, except sender: PeerID) async {
        guard let key = try? logstore.key(of: thread) else { return }
        let message = IPLD.map([
            "op": .string("push"), "thread": .bytes(thread.bytes),
            "proof": .bytes(Self.proof(thread: thread, key: key, peer: manager.localPeer)), "blocks": .list(blocks),
        ])
        guard let payload = try? DagCBOR.encode(message) else { return }
        for peer in (try? logstore.members(of: thread)) ?? [] where peer != sender {
            guard let connection = await manager.connection(to: peer) else { continue }
            try? await connection.message(Self.protocolName, payload)
        }
    }

    func receivePush(_ payload: [UInt8], from peer: PeerID) async {
        guard let fields = (try? DagCBOR.decode(payload))?.mapValue, fields["op"]?.stringValue == "push" else { return }
        do {
            let (thread, _) = try authorize(fields, peer: peer)
            guard let list = fields["blocks"]?.listValue, list.count == 4 else {
                throw ThreadsError.malformed("a push carries 4 blocks")
            }
            if list.count == 4 && list[3].linkValue != nil {
                // A body to fetch through the exchange: this handler holds the connection's reads
                // (ordered messages), so the fetch could never see its answer here. A pull, in
                // its own task, gets the record and its body.
                pullAfterPush(thread, from: peer)
                return
            }
            do {
                let incoming = try Self.incoming(list)
                // Forwarded records often arrive more than once: a stored record block means the
                // record is here already (blocks are stored with their record, atomically).
                if try logstore.blockstore.has(incoming.record.cid) { return }
                let verified = try logstore.verify(incoming, in: thread, hashed: true)
                let known = try logstore.head(of: verified.record.log, in: thread)?.sequence
                let stored = try logstore.ingest(verified: [verified], into: thread)
                announce(stored, in: thread)
                if known.map({ $0 < verified.record.sequence }) ?? true {
                    // New here: pass it on to the thread's other connected members, so a record
                    // reaches members its writer is not connected to at once, not at their next
                    // pull. Members that have it already drop it without passing it on again.
                    Task { await self.forward(list, thread: thread, except: peer) }
                }
            } catch ThreadsError.brokenChain {
                // A gap (we missed earlier records): fetch them from the sender.
                pullAfterPush(thread, from: peer)
            }
        } catch {
            logger.notice("refused a pushed record", metadata: ["peer": "\(peer)", "reason": "\(error)"])
        }
    }

    /// A record's blocks from their bytes (record, event, header, body). The CIDs are computed
    /// here: what arrives is only trusted once hashed. `bodyFetched`: the body travelled as a link
    /// and was fetched through the exchange (see `resolveBodies`), which stored it.
    static func incoming(_ list: [IPLD], bodyFetched: Bool = false) throws -> Logstore.IncomingRecord {
        let raw = list.compactMap(\.bytesValue)
        guard raw.count == 4 else { throw ThreadsError.malformed("a record travels as 4 blocks") }
        return Logstore.IncomingRecord(
            record: try Block(bytes: raw[0], codec: Multicodec.dagCBOR),
            event: try Block(bytes: raw[1], codec: Multicodec.dagCBOR),
            header: try Block(bytes: raw[2], codec: Multicodec.dagCBOR),
            body: try Block(bytes: raw[3], codec: Multicodec.dagCBOR),
            bodyCameInline: !bodyFetched
        )
    }

    // MARK: - Pulling

    /// Brings every thread shared with `peer` up to date with it.
    public func pullAll(from peer: PeerID) async {
        for thread in (try? logstore.threads()) ?? [] where ((try? logstore.members(of: thread)) ?? []).contains(peer) {
            await pull(thread, from: peer)
        }
    }

    func pullEveryone() async {
        var unreachable: [PeerID: [Multiaddr]] = [:]
        for thread in (try? logstore.threads()) ?? [] {
            for peer in (try? logstore.members(of: thread)) ?? [] {
                guard await manager.connection(to: peer) != nil else {
                    unreachable[peer, default: []] += (try? logstore.addresses(of: peer, in: thread)) ?? []
                    continue
                }
                await pull(thread, from: peer)
            }
        }
        // Members not connected now (one restarted, a link came back) are dialled again; once
        // connected, both sides pull (the connect event), so whatever either wrote meanwhile
        // reaches the other. A member still down costs one failed dial, then backoff.
        let manager = self.manager
        await withTaskGroup(of: Void.self) { group in
            for (peer, addresses) in unreachable {
                group.addTask { _ = try? await manager.connect(to: peer, addresses: addresses) }
            }
        }
    }

    /// Fetches from `peer` every record of `thread` it has and this node lacks. Returns the
    /// number of records ingested.
    @discardableResult
    public func pull(_ thread: ThreadID, from peer: PeerID) async -> Int {
        let tag = Self.pullTag(thread, peer)
        // Any pull numbered from here on starts after this call, so it sees everything the peer
        // had when called: callers that arrive while a pull runs share the one after it, rather
        // than each queueing a pull of their own.
        let wanted = nextPull
        var earlier = 0
        while let (id, count) = await awaitRunningPull(tag) {
            if id >= wanted { return earlier + count }
            earlier += count
        }
        let id = nextPull
        nextPull += 1
        let task = Task {
            do {
                return try await self.pullOnce(thread, from: peer)
            } catch {
                self.logger.info(
                    "pull failed",
                    metadata: ["peer": "\(peer)", "thread": "\(thread)", "reason": "\(error)"]
                )
                return 0
            }
        }
        pulling[tag] = (id, task)
        let count = await task.value
        if pulling[tag]?.id == id { pulling[tag] = nil }
        return earlier + count
    }

    private static func pullTag(_ thread: ThreadID, _ peer: PeerID) -> String { "\(thread)/\(peer)" }

    /// Waits for the pull running for `tag`, if any; returns its number and what it stored.
    private func awaitRunningPull(_ tag: String) async -> (id: Int, count: Int)? {
        guard let running = pulling[tag] else { return nil }
        pullWaiters.now += 1
        pullWaiters.most = max(pullWaiters.most, pullWaiters.now)
        let count = await running.task.value
        pullWaiters.now -= 1
        // Finished: clear it here too, in case its owner has not resumed yet.
        if pulling[tag]?.id == running.id { pulling[tag] = nil }
        return (running.id, count)
    }

    /// Pulls from a member after one of its pushes (a body to fetch, or a gap), in a task of its
    /// own: the push handler holds the connection's reads, which the pull's answers need. A
    /// member can push far faster than pulls run, so one pull is queued per thread and peer: it
    /// starts once the running one ends and covers every push that came before it starts, and a
    /// flood of pushes holds no more than that one task.
    private func pullAfterPush(_ thread: ThreadID, from peer: PeerID) {
        let tag = Self.pullTag(thread, peer)
        guard queuedPushPulls.insert(tag).inserted else { return }
        Task {
            while await self.awaitRunningPull(tag) != nil {}
            // Nothing runs for this tag now, and `pull` registers its own run before it first
            // suspends: pushes from here on queue the next one.
            self.queuedPushPulls.remove(tag)
            await self.pull(thread, from: peer)
        }
    }

    private func pullOnce(_ thread: ThreadID, from peer: PeerID) async throws -> Int {
        guard let key = try logstore.key(of: thread) else { throw ThreadsError.unknownThread(thread) }
        let connection = try await manager.connect(to: peer)
        let local = manager.localPeer
        @Sendable func call(_ fields: [String: IPLD]) async throws -> [String: IPLD] {
            var request = fields
            request["thread"] = .bytes(thread.bytes)
            request["proof"] = .bytes(Self.proof(thread: thread, key: key, peer: local))
            let reply = try await connection.request(Self.protocolName, try DagCBOR.encode(.map(request)))
            guard let map = try DagCBOR.decode(reply).mapValue else {
                throw ThreadsError.malformed("reply is not a map")
            }
            return map
        }
        try? logstore.addMember(peer, to: thread)
        let remote = try await call(["op": .string("heads")])
        var ingested = 0
        // The owner's log first: it carries the access log that admits the other writers.
        let owner = try logstore.owner(of: thread)
        var heads: [(log: PeerID, seq: UInt64)] = []
        for item in remote["heads"]?.listValue ?? [] {
            guard let fields = item.mapValue, let raw = fields["log"]?.bytesValue, let log = try? PeerID(bytes: raw),
                let theirs = fields["seq"]?.integerValue?.argument
            else { continue }
            heads.append((log, theirs))
        }
        heads.sort { ($0.log == owner ? 0 : 1, $0.log) < ($1.log == owner ? 0 : 1, $1.log) }
        for (log, theirs) in heads {
            // In an access-controlled thread only logs its access log names can hold records
            // this node takes (the owner's log, pulled first, admits the others): a head for any
            // other log is neither fetched nor counted as lag.
            if thread.variant == .accessControlled, log != owner, try logstore.role(of: log, in: thread) == nil {
                continue
            }
            reportedHeads[thread, default: [:]][log, default: [:]][peer] = max(
                reportedHeads[thread]?[log]?[peer] ?? 0,
                theirs
            )
            do {
                ingested += try await pullLog(log, upTo: theirs, thread: thread, source: peer, call: call)
            } catch {
                // One log refused (a revoked writer, a bad record) does not stop the others; its
                // head stays reported, as records this node knows of and does not hold.
                logger.info(
                    "pull of a log failed",
                    metadata: ["peer": "\(peer)", "log": "\(log)", "reason": "\(error)"]
                )
                continue
            }
            // The peer served all it had and stopped short of the head it claimed: its claim is
            // withdrawn (other peers' stand), so made-up heads neither show as lag nor pile up here.
            let ours = try logstore.head(of: log, in: thread)?.sequence
            if ours.map({ $0 < theirs }) ?? true {
                reportedHeads[thread]?[log]?[peer] = nil
                if reportedHeads[thread]?[log]?.isEmpty == true { reportedHeads[thread]?[log] = nil }
            }
        }
        return ingested
    }

    /// One batch of a pull: where it starts, and the work that resolves and verifies it.
    private struct PullStage: Sendable {
        let start: UInt64
        let work: Task<(resolved: [[IPLD]], verified: [Logstore.VerifiedRecord]), any Error>
    }

    private func pullLog(
        _ log: PeerID,
        upTo theirs: UInt64,
        thread: ThreadID,
        source: PeerID? = nil,
        call: @escaping @Sendable ([String: IPLD]) async throws -> [String: IPLD]
    ) async throws -> Int {
        var ingested = 0
        // Each restart has stored at least one record, so this ends.
        while true {
            let (stored, restart) = try await pullRun(
                log,
                upTo: theirs,
                thread: thread,
                source: source,
                earlier: ingested,
                call: call
            )
            ingested += stored
            guard restart, stored > 0 else { return ingested }
        }
    }

    /// One pipelined run of a pull from this node's head; says whether to start again from the
    /// new head (the answers stopped lining up with the batches asked for). `earlier` counts the
    /// records earlier runs of the same pull stored, for the forwarding limit.
    private func pullRun(
        _ log: PeerID,
        upTo theirs: UInt64,
        thread: ThreadID,
        source: PeerID?,
        earlier: Int,
        call: @escaping @Sendable ([String: IPLD]) async throws -> [String: IPLD]
    ) async throws -> (stored: Int, restart: Bool) {
        var next = (try logstore.head(of: log, in: thread)).map { $0.sequence + 1 } ?? 0
        guard next <= theirs else { return (0, false) }
        // A pipeline: batches are fetched and verified (on all cores) up to `pullDepth` ahead of
        // the one being stored, so fetching, checking and the synced write of each batch overlap
        // instead of taking turns. Storing stays in log order, here.
        let (stages, stageSink) = AsyncThrowingStream<PullStage, any Error>.makeStream()
        let (credits, creditSink) = AsyncStream<Void>.makeStream()
        for _ in 0..<Self.pullDepth { creditSink.yield() }
        let logstore = logstore
        let first = next
        let producer = Task {
            var credit = credits.makeAsyncIterator()
            // Requests go out ahead of their replies (up to `pullDepth`), each for the batch after
            // the one before, while the replies come back whole. Sent one at a time, each request's
            // round trip, queued behind the checks on the cores of both ends, left those checks
            // waiting for records. A short reply (the answer's size cap) means the next batch
            // starts elsewhere: the requests sent after it are dropped and sent again from there.
            var requests: [(start: UInt64, reply: Task<[String: IPLD], any Error>)] = []
            defer { for request in requests { request.reply.cancel() } }
            var nextStart = first
            var whole = true
            do {
                while !Task.isCancelled {
                    while requests.count < (whole ? Self.pullDepth : 1), nextStart <= theirs {
                        let from = nextStart
                        let reply = Task {
                            try await call([
                                "op": .string("records"), "log": .bytes(log.bytes),
                                "from": .integer(IPLDInteger(from)),
                            ])
                        }
                        requests.append((from, reply))
                        nextStart += UInt64(Self.batchSize)
                    }
                    guard !requests.isEmpty, await credit.next() != nil else { break }
                    let (start, reply) = requests.removeFirst()
                    let records = try await reply.value["records"]?.listValue ?? []
                    if records.isEmpty { break }
                    let lists = try records.map { record throws -> [IPLD] in
                        guard let list = record.listValue else {
                            throw ThreadsError.malformed("a record is a list of blocks")
                        }
                        return list
                    }
                    let work = Task { () async throws -> (resolved: [[IPLD]], verified: [Logstore.VerifiedRecord]) in
                        let resolved = try await self.resolveBodies(lists, thread: thread)
                        let verified = try await Self.verify(
                            resolved.lists,
                            opened: resolved.opened,
                            thread: thread,
                            logstore: logstore
                        )
                        return (resolved.lists, verified)
                    }
                    stageSink.yield(PullStage(start: start, work: work))
                    whole = records.count >= Self.batchSize
                    if !whole {
                        for request in requests { request.reply.cancel() }
                        requests = []
                        nextStart = start + UInt64(records.count)
                    }
                }
                stageSink.finish()
            } catch {
                stageSink.finish(throwing: error)
            }
        }
        var ingested = 0
        var restart = false
        do {
            for try await stage in stages {
                guard stage.start == next else {
                    // The answers stopped lining up with the batches asked for (a peer answered an
                    // overlapping range): start again from the head.
                    stage.work.cancel()
                    restart = true
                    break
                }
                let (resolved, verified) = try await stage.work.value
                let stored = try logstore.ingest(verified: verified, into: thread)
                announce(stored, in: thread)
                if let source, earlier + ingested + stored.count <= Self.forwardLimit {
                    // Records new here go on to the other connected members, as pushes do: a member
                    // that came back after a crash reaches everyone through whoever pulls from it.
                    let fresh = zip(resolved, verified).filter { $0.1.record.sequence >= next }.map(\.0)
                    if !fresh.isEmpty {
                        Task { for list in fresh { await self.forward(list, thread: thread, except: source) } }
                    }
                }
                guard let last = stored.last, last.sequence >= next else { break }
                next = last.sequence + 1
                ingested += stored.count
                creditSink.yield()
            }
        } catch {
            await Self.stop(producer, stages: stages, credits: creditSink)
            throw error
        }
        await Self.stop(producer, stages: stages, credits: creditSink)
        return (ingested, restart)
    }

    /// Batches fetched or verified ahead of a pull that ended early are cancelled, not left running.
    private static func stop(
        _ producer: Task<Void, Never>,
        stages: AsyncThrowingStream<PullStage, any Error>,
        credits: AsyncStream<Void>.Continuation
    ) async {
        producer.cancel()
        credits.finish()
        do { for try await stage in stages { stage.work.cancel() } } catch {}
    }
}

extension Replicator {
    /// Checks a batch of records (hashes, decryption, signatures) on all cores, keeping their order.
    /// `opened`: per record, the record already opened while fetching its body (see
    /// `resolveBodies`), or nil.
    static func verify(_ lists: [[IPLD]], opened: [ThreadRecord?], thread: ThreadID, logstore: Logstore) async throws
        -> [Logstore.VerifiedRecord]
    {
        let chunks = max(1, min(4, lists.count / 16))
        let size = (lists.count + chunks - 1) / chunks
        return try await withThrowingTaskGroup(of: (Int, [Logstore.VerifiedRecord]).self) { group in
            for chunk in 0..<chunks {
                let range = min(lists.count, chunk * size)..<min(lists.count, (chunk + 1) * size)
                let part = Array(lists[range])
                let partOpened = Array(opened[range])
                group.addTask {
                    var out: [Logstore.VerifiedRecord] = []
                    for (list, record) in zip(part, partOpened) {
                        let incoming = try incoming(list, bodyFetched: record != nil)
                        out.append(try logstore.verify(incoming, in: thread, hashed: true, opened: record))
                    }
                    return (chunk, out)
                }
            }
            var results: [[Logstore.VerifiedRecord]] = Array(repeating: [], count: chunks)
            for try await (chunk, verified) in group { results[chunk] = verified }
            return results.flatMap { $0 }
        }
    }
}
