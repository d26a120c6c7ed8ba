import Foundation
import Logging
import Multiformats
import Store
import Threads

/// The document database of every thread a node holds (Specs/db.md): collections with schemas,
/// instances, queries with secondary indexes, listeners, and a convergent merge of the events
/// of all writers.
///
/// Writes become one event in this node's log of the thread; the materialised state (kept under
/// `/db/` in the Store) is derived from the records, so it is rebuilt from them after a crash and
/// the same records give the same state on every replica.
public actor ThreadDB {
    public nonisolated let logstore: Logstore
    nonisolated let space: Keyspace
    let logger: Logger
    /// Sends a new record to the thread's peers (the node passes its replicator's push).
    public typealias Publish = @Sendable (ThreadRecord.Blocks, ThreadID) async -> Void
    let publish: Publish

    /// Effects of writes queued for the log but not applied yet, per thread, keyed like
    /// `DBKeys.instance` / `DBKeys.collection` (nil value: deleted): later writes are checked
    /// against them.
    private var inFlight: [ThreadID: [[UInt8]: (write: Int, value: Effect)]] = [:]
    private var nextWrite = 0
    nonisolated let definitions = DefinitionCache()

    enum Effect: Sendable {
        case instance(JSON?)
        case collection(CollectionDefinition)
    }
    private var listeners: [Int: Listener] = [:]
    private var nextListener = 0

    private struct Listener {
        let thread: ThreadID?
        let filter: ChangeFilter
        let continuation: AsyncStream<DBChange>.Continuation
    }

    /// Events applied per batch while catching up.
    static let batchEvents = 512

    public init(logstore: Logstore, logger: Logger = Logger(label: "threads.db"), publish: @escaping Publish) {
        self.logstore = logstore
        space = Keyspace(logstore.database, prefix: Keyspace.db)
        self.logger = logger
        self.publish = publish
    }

    // MARK: - Reading

    /// Reads the thread's database. With `snapshot`, every read of the returned reader sees the
    /// state as it is now (a read transaction).
    public nonisolated func reader(_ thread: ThreadID, snapshot: Bool = false) throws(DBError) -> DBReader {
        let key: ThreadKey?
        do { key = try logstore.key(of: thread) } catch { throw .threads("\(error)") }
        guard let key else { throw .cannotRead("no thread \(thread) on this node") }
        guard key.canRead else {
            throw .cannotRead("this node holds no read key for \(thread) (a replica stores it without reading it)")
        }
        let taken: Snapshot?
        do { taken = snapshot ? try logstore.database.snapshot() : nil } catch { throw .store("\(error)") }
        return DBReader(space: space, thread: thread, snapshot: taken, cache: definitions)
    }

    // MARK: - Writing

    /// Applies the actions as one event: all of them, or (on any error) none. Returns the `_id`
    /// of each create, in order. Returns once the event is durable in this node's log.
    ///
    /// Writes are checked and queued for the log in the order they reach the actor (with the
    /// effects of writes still on their way to the disk taken into account), and many concurrent
    /// writes share one disk flush.
    @discardableResult
    public func write(_ actions: [WriteAction], in thread: ThreadID) async throws(DBError) -> [String] {
        let reader = try reader(thread)
        let (event, ids, effects) = try prepare(actions, reader: reader, inFlight: inFlight[thread] ?? [:])
        guard !event.actions.isEmpty else { return ids }
        let pending: Logstore.PendingAppend
        do { pending = try logstore.beginAppend(event.encoded, to: thread) } catch { throw .threads(error.description) }
        let write = nextWrite
        nextWrite += 1
        for (key, value) in effects { inFlight[thread, default: [:]][key] = (write, value) }
        defer {
            inFlight[thread] = inFlight[thread]?.filter { $0.value.write != write }
            if inFlight[thread]?.isEmpty == true { inFlight[thread] = nil }
        }
        do { try await pending.durable() } catch { throw .threads(error.description) }
        try applyOwn(pending.record, pending.blocks, event: event, thread: thread)
        await publish(pending.blocks, thread)
        return ids
    }

    public func newCollection(_ definition: CollectionDefinition, in thread: ThreadID) async throws(DBError) {
        try await write([.newCollection(definition)], in: thread)
    }

    public func updateCollection(_ definition: CollectionDefinition, in thread: ThreadID) async throws(DBError) {
        try await write([.updateCollection(definition)], in: thread)
    }

    /// Creates instances (one event); returns their `_id`s.
    @discardableResult
    public func create(_ instances: [JSON], in collection: String, thread: ThreadID) async throws(DBError) -> [String] {
        try await write(instances.map { .create(collection: collection, instance: $0) }, in: thread)
    }

    public func save(_ instances: [JSON], in collection: String, thread: ThreadID) async throws(DBError) {
        try await write(instances.map { .save(collection: collection, instance: $0) }, in: thread)
    }

    public func delete(_ ids: [String], in collection: String, thread: ThreadID) async throws(DBError) {
        try await write(ids.map { .delete(collection: collection, id: $0) }, in: thread)
    }

    /// Checks the actions against the state and each other, and turns them into an event.
    private func prepare(
        _ actions: [WriteAction],
        reader: DBReader,
        inFlight: [[UInt8]: (write: Int, value: Effect)]
    ) throws(DBError) -> (DBEvent, [String], [[UInt8]: Effect]) {
        var definitions: [String: CollectionDefinition] = [:]
        // Instances as the actions before leave them: .some(nil) is deleted.
        var overlay: [[UInt8]: JSON?] = [:]
        var out: [DBEvent.Action] = []
        var ids: [String] = []
        func definition(_ name: String) throws(DBError) -> CollectionDefinition {
            if let pending = definitions[name] { return pending }
            if case .collection(let queued)? = inFlight[reader.keys.collection(name)]?.value { return queued }
            return try reader.requireCollection(name)
        }
        func current(_ collection: String, _ id: String) throws(DBError) -> JSON? {
            let key = reader.keys.instance(collection, id)
            if let pending = overlay[key] { return pending }
            if case .instance(let queued)? = inFlight[key]?.value { return queued }
            return try reader.instance(collection, id)
        }
        func collectionExists(_ name: String) throws(DBError) -> Bool {
            if definitions[name] != nil || inFlight[reader.keys.collection(name)] != nil { return true }
            return try reader.collection(name) != nil
        }
        for action in actions {
            switch action {
            case .newCollection(let new):
                guard try !collectionExists(new.name) else { throw .collectionExists(new.name) }
                definitions[new.name] = new
                out.append(.collection(new))
            case .updateCollection(let new):
                _ = try definition(new.name)
                definitions[new.name] = new
                out.append(.collection(new))
            case .create(let collection, let instance):
                let schema = try definition(collection).schema
                guard case .object(var fields) = instance else {
                    throw .badInstance("an instance must be a JSON object, not \(instance.typeName)")
                }
                let id: String
                if let given = fields["_id"] {
                    id = try Self.checkID(given)
                } else {
                    id = InstanceID.generate()
                    fields["_id"] = .string(id)
                }
                try Self.validate(.object(fields), schema, collection)
                guard try current(collection, id) == nil else { throw .instanceExists(collection: collection, id: id) }
                overlay[reader.keys.instance(collection, id)] = .some(.object(fields))
                fields["_id"] = nil
                out.append(.create(collection: collection, id: id, fields: fields))
                ids.append(id)
            case .save(let collection, let instance):
                let schema = try definition(collection).schema
                guard case .object(var fields) = instance else {
                    throw .badInstance("an instance must be a JSON object, not \(instance.typeName)")
                }
                guard let given = fields["_id"] else { throw .badInstance("save needs the instance's _id") }
                let id = try Self.checkID(given)
                guard case .object(var old)? = try current(collection, id) else {
                    throw .instanceNotFound(collection: collection, id: id)
                }
                try Self.validate(instance, schema, collection)
                overlay[reader.keys.instance(collection, id)] = .some(instance)
                fields["_id"] = nil
                old["_id"] = nil
                let set = fields.filter { old[$0.key] != $0.value }
                let unset = old.keys.filter { fields[$0] == nil }.sorted()
                guard !set.isEmpty || !unset.isEmpty else { continue }
                out.append(.save(collection: collection, id: id, set: set, unset: unset))
            case .delete(let collection, let id):
                _ = try definition(collection)
                guard try current(collection, id) != nil else {
                    throw .instanceNotFound(collection: collection, id: id)
                }
                overlay[reader.keys.instance(collection, id)] = .some(nil)
                out.append(.delete(collection: collection, id: id))
            }
        }
        var effects: [[UInt8]: Effect] = [:]
        for (name, definition) in definitions { effects[reader.keys.collection(name)] = .collection(definition) }
        for (key, value) in overlay { effects[key] = .instance(value) }
        return (DBEvent(actions: out), ids, effects)
    }

    static func checkID(_ value: JSON) throws(DBError) -> String {
        guard case .string(let id) = value, !id.isEmpty, id.utf8.count <= 200 else {
            throw .badInstance("_id must be a string of 1 to 200 bytes")
        }
        return id
    }

    /// Validates an instance; `_id` is checked by the schema only when the schema names it, so
    /// schemas need not mention it (even with additionalProperties: false).
    static func validate(_ instance: JSON, _ schema: JSONSchema, _ collection: String) throws(DBError) {
        guard case .object(var fields) = instance else { return }
        if schema.json["properties"]?["_id"] == nil { fields["_id"] = nil }
        try schema.validate(.object(fields), collection: collection)
    }

    // MARK: - Applying

    /// Applies this node's own new record; when records of its log are still unapplied (written
    /// outside the database), catches the log up instead.
    private func applyOwn(_ record: ThreadRecord, _ blocks: ThreadRecord.Blocks, event: DBEvent, thread: ThreadID)
        throws(DBError)
    {
        let reader = try reader(thread)
        var applier = Applier(reader: reader)
        guard try applier.cursor(record.log) == record.sequence else {
            try catchUp(thread, logs: [record.log])
            return
        }
        let header: EventHeader
        do {
            guard let key = try logstore.key(of: thread) else { throw ThreadsError.unknownThread(thread) }
            header = try ThreadRecord.openHeader(blocks.header, thread: thread, key: key, epoch: record.epoch)
        } catch {
            throw .threads("cannot read back the new record: \(error)")
        }
        try applier.apply(event, clock: header.clock, log: record.log)
        applier.advance(record.log, to: record.sequence + 1)
        try commit(applier)
    }

    /// Applies every stored record of the thread the database has not applied yet (all logs, or
    /// only `logs`): after a restart, and whenever records arrive from peers.
    public func catchUp(_ thread: ThreadID, logs: [PeerID]? = nil) throws(DBError) {
        let reader: DBReader
        do { reader = try self.reader(thread) } catch { return }
        // Records arrive one log at a time: read only the heads asked about.
        var heads: [PeerID: Logstore.Head] = [:]
        do {
            if let logs {
                for log in logs { heads[log] = try logstore.head(of: log, in: thread) }
            } else {
                heads = try logstore.heads(of: thread)
            }
        } catch {
            throw .threads("\(error)")
        }
        var applier = Applier(reader: reader)
        for log in logs ?? heads.keys.sorted() {
            guard let head = heads[log] else { continue }
            var next = try applier.cursor(log)
            reading: while next <= head.sequence {
                let entries: [(sequence: UInt64, entry: Logstore.Entry)]
                do { entries = try logstore.entries(of: log, from: next, limit: 256, in: thread) } catch {
                    throw .threads("\(error)")
                }
                guard !entries.isEmpty else { break }
                for (sequence, entry) in entries {
                    let opened: (header: EventHeader, body: [UInt8])
                    do { opened = try logstore.read(entry, in: thread) } catch {
                        // Without the key of its epoch (a revoked member) the log cannot go on.
                        logger.debug("db: cannot read record \(sequence) of \(log) in \(thread): \(error)")
                        break reading
                    }
                    do {
                        if let event = try DBEvent(decoding: opened.body) {
                            try applier.apply(event, clock: opened.header.clock, log: log)
                        }
                    } catch {
                        logger.warning("db: skipping record \(sequence) of \(log) in \(thread): \(error)")
                    }
                    next = sequence + 1
                    applier.advance(log, to: next)
                    if applier.events >= Self.batchEvents {
                        try commit(applier)
                        applier = Applier(reader: reader)
                    }
                }
            }
        }
        try commit(applier)
    }

    /// Catches up every thread this node can read (at start).
    public func catchUpAll() {
        for thread in (try? logstore.threads()) ?? [] {
            do { try catchUp(thread) } catch { logger.warning("db: catching up \(thread): \(error)") }
        }
    }

    /// Follows records arriving from peers until the stream ends.
    public func follow(_ records: AsyncStream<(ThreadID, ThreadRecord)>) async {
        for await (thread, record) in records {
            do { try catchUp(thread, logs: [record.log]) } catch {
                logger.warning("db: applying records of \(thread): \(error)")
            }
        }
    }

    private func commit(_ applier: Applier) throws(DBError) {
        guard !applier.isEmpty else { return }
        let batch = try applier.batch(in: space)
        do { try logstore.database.write(batch) } catch {
            definitions.invalidate()
            throw .store("\(error)")
        }
        if applier.changesDefinitions { definitions.invalidate() }
        for change in applier.changes {
            for listener in listeners.values
            where listener.thread.map({ $0.description == change.thread }) ?? true && listener.filter.admits(change) {
                listener.continuation.yield(change)
            }
        }
    }

    /// Removes the thread's database (with the thread).
    public func deleteAll(_ thread: ThreadID) throws(DBError) {
        var batch = WriteBatch()
        do {
            for (key, _) in try space.scan(prefix: DBKeys(thread).all) { space.delete(key, in: &batch) }
            try logstore.database.write(batch, sync: true)
        } catch { throw .store("\(error)") }
        definitions.invalidate()
    }

    // MARK: - Listening

    /// Changes from now on (local and from peers), in the order they are applied, each once.
    /// The stream buffers without limit: a slow listener delays nothing and loses nothing.
    public func changes(in thread: ThreadID? = nil, filter: ChangeFilter = ChangeFilter()) -> AsyncStream<DBChange> {
        let (stream, continuation) = AsyncStream<DBChange>.makeStream(bufferingPolicy: .unbounded)
        let id = nextListener
        nextListener += 1
        listeners[id] = Listener(thread: thread, filter: filter, continuation: continuation)
        continuation.onTermination = { _ in Task { await self.removeListener(id) } }
        return stream
    }

    /// Listeners open now.
    public var listenerCount: Int { listeners.count }

    /// Ends every listener's stream (at shutdown).
    public func closeListeners() {
        for listener in listeners.values { listener.continuation.finish() }
        listeners = [:]
    }

    private func removeListener(_ id: Int) {
        listeners[id] = nil
    }
}
