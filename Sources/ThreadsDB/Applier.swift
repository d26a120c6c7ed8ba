import Multiformats
import Store
import Threads

/// Applies database events to the materialised state: accumulates the writes of many events in
/// one batch (instance states, visible instances, index entries, collection definitions and the
/// per-log cursors), reading through its own pending writes.
struct Applier {
    let reader: DBReader
    var keys: DBKeys { reader.keys }

    struct Touched {
        let collection: String
        let id: String
        /// The visible instance before this batch (what the stored index entries reflect).
        let original: JSON?
        var state: InstanceState
    }

    private(set) var touched: [[UInt8]: Touched] = [:]
    private var order: [[UInt8]] = []
    private var definitions: [String: StoredDefinition?] = [:]
    private var reindex: Set<String> = []
    private(set) var cursors: [PeerID: UInt64] = [:]
    private(set) var changes: [DBChange] = []
    private(set) var events = 0

    init(reader: DBReader) {
        self.reader = reader
    }

    var isEmpty: Bool { touched.isEmpty && definitions.isEmpty && cursors.isEmpty }

    /// Whether committing this batch changes a collection definition.
    var changesDefinitions: Bool { definitions.values.contains { $0 != nil } }

    func definition(_ name: String) throws(DBError) -> StoredDefinition? {
        if let cached = definitions[name] { return cached }
        return try reader.storedDefinition(name)
    }

    /// The next sequence to apply of `log`.
    func cursor(_ log: PeerID) throws(DBError) -> UInt64 {
        if let cursor = cursors[log] { return cursor }
        guard let bytes = try reader.get(keys.applied(log)), bytes.count == 8 else { return 0 }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func advance(_ log: PeerID, to next: UInt64) {
        cursors[log] = next
    }

    /// Applies the actions of one event, written by `log` at `clock`.
    mutating func apply(_ event: DBEvent, clock: HLCTimestamp, log: PeerID) throws(DBError) {
        events += 1
        for (index, action) in event.actions.enumerated() {
            let stamp = Stamp(clock: clock, log: log.bytes, index: UInt32(index))
            switch action {
            case .collection(let definition):
                let stored = try self.definition(definition.name)
                guard stored.map({ $0.stamp < stamp }) ?? true else { continue }
                definitions[definition.name] = StoredDefinition(definition: definition, stamp: stamp)
                if stored?.definition.indexes != definition.indexes { reindex.insert(definition.name) }
            case .create(let collection, let id, let fields):
                try change(collection, id, .create, log) { $0.create(fields, at: stamp) }
            case .save(let collection, let id, let set, let unset):
                try change(collection, id, .save, log) { $0.save(set: set, unset: unset, at: stamp) }
            case .delete(let collection, let id):
                try change(collection, id, .delete, log) { $0.delete(at: stamp) }
            }
        }
    }

    private mutating func change(
        _ collection: String,
        _ id: String,
        _ action: DBChange.Action,
        _ log: PeerID,
        _ body: (inout InstanceState) -> Void
    ) throws(DBError) {
        let key = keys.meta(collection, id)
        var entry: Touched
        if let existing = touched[key] {
            entry = existing
        } else {
            entry = Touched(
                collection: collection,
                id: id,
                original: try reader.instance(collection, id),
                state: try reader.state(collection, id) ?? InstanceState()
            )
            order.append(key)
        }
        body(&entry.state)
        touched[key] = entry
        changes.append(
            DBChange(
                thread: reader.thread.description,
                collection: collection,
                instanceID: id,
                action: action,
                instance: entry.state.visible(id: id),
                log: log.description
            )
        )
    }

    /// The writes of everything applied so far.
    func batch(in space: Keyspace) throws(DBError) -> WriteBatch {
        var batch = WriteBatch()
        for (name, stored) in definitions {
            if let stored { space.put(keys.collection(name), stored.encoded, in: &batch) }
        }
        var finals: [String: [String: JSON?]] = [:]
        for key in order {
            guard let entry = touched[key] else { continue }
            space.put(key, entry.state.encoded, in: &batch)
            let visible = entry.state.visible(id: entry.id)
            if let visible {
                space.put(keys.instance(entry.collection, entry.id), visible.canonicalBytes, in: &batch)
            } else if entry.original != nil {
                space.delete(keys.instance(entry.collection, entry.id), in: &batch)
            }
            finals[entry.collection, default: [:]][entry.id] = .some(visible)
            guard !reindex.contains(entry.collection), visible != entry.original,
                let indexes = try definition(entry.collection)?.definition.indexes
            else { continue }
            for path in indexes {
                let base = keys.index(entry.collection, path)
                let old = Set(entry.original.map { IndexKey.entries(of: $0, at: path) } ?? [])
                let new = Set(visible.map { IndexKey.entries(of: $0, at: path) } ?? [])
                let id = Array(entry.id.utf8)
                for value in old.subtracting(new) { space.delete(base + value + id, in: &batch) }
                for value in new.subtracting(old) { space.put(base + value + id, [], in: &batch) }
            }
        }
        for collection in reindex.sorted() {
            // A new or changed index list: drop the collection's entries and write them again
            // from the instances as they stand after this batch.
            try reader.scan(keys.indexes(collection)) { rest, _ in
                space.delete(keys.indexes(collection) + rest, in: &batch)
                return true
            }
            guard let indexes = try definition(collection)?.definition.indexes, !indexes.isEmpty else { continue }
            var instances: [(String, JSON)] = []
            let pending = finals[collection] ?? [:]
            try reader.scan(keys.instances(collection)) { idBytes, value throws(DBError) in
                let id = String(decoding: idBytes, as: UTF8.self)
                if pending[id] == nil { instances.append((id, try JSON(parsing: value))) }
                return true
            }
            for (id, visible) in pending { if let visible { instances.append((id, visible)) } }
            for (id, instance) in instances {
                for path in indexes {
                    for value in IndexKey.entries(of: instance, at: path) {
                        space.put(keys.index(collection, path) + value + Array(id.utf8), [], in: &batch)
                    }
                }
            }
        }
        for (log, next) in cursors {
            space.put(keys.applied(log), (0..<8).map { UInt8(truncatingIfNeeded: next >> (8 * (7 - $0))) }, in: &batch)
        }
        return batch
    }
}
