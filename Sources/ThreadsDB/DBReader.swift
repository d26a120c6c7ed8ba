import Crypto
import Store
import Threads

/// Reads one thread's database, optionally from a snapshot (a read transaction: every call sees
/// the same state, whatever is written meanwhile). Safe to use from any task.
public struct DBReader: Sendable {
    let space: Keyspace
    let keys: DBKeys
    let snapshot: Snapshot?
    /// Shared decoded definitions; nil for a snapshot, which must see its own moment.
    let cache: DefinitionCache?
    public let thread: ThreadID

    init(space: Keyspace, thread: ThreadID, snapshot: Snapshot?, cache: DefinitionCache? = nil) {
        self.space = space
        self.thread = thread
        keys = DBKeys(thread)
        self.snapshot = snapshot
        self.cache = snapshot == nil ? cache : nil
    }

    func get(_ key: [UInt8]) throws(DBError) -> [UInt8]? {
        do { return try space.get(key, snapshot: snapshot) } catch { throw .store("\(error)") }
    }

    func scan(_ prefix: [UInt8], _ body: ([UInt8], [UInt8]) throws(DBError) -> Bool) throws(DBError) {
        do {
            try space.forEach(prefix: prefix, snapshot: snapshot) { key, value in
                try body(Array(key.dropFirst(prefix.count)), value)
            }
        } catch let error as DBError {
            throw error
        } catch {
            throw .store("\(error)")
        }
    }

    // MARK: - Collections

    /// The thread's collections, by name.
    public func collections() throws(DBError) -> [CollectionDefinition] {
        var out: [CollectionDefinition] = []
        try scan(keys.collections) { _, value throws(DBError) in
            out.append(try StoredDefinition(decoding: value).definition)
            return true
        }
        return out
    }

    public func collection(_ name: String) throws(DBError) -> CollectionDefinition? {
        try storedDefinition(name)?.definition
    }

    func storedDefinition(_ name: String) throws(DBError) -> StoredDefinition? {
        let key = keys.collection(name)
        let cached = cache?.lookup(key)
        if let value = cached?.value { return value }
        let stored = try get(key).map { bytes throws(DBError) in try StoredDefinition(decoding: bytes) }
        if let cached { cache?.store(key, stored, generation: cached.generation) }
        return stored
    }

    func requireCollection(_ name: String) throws(DBError) -> CollectionDefinition {
        guard let definition = try collection(name) else { throw .unknownCollection(name) }
        return definition
    }

    // MARK: - Instances

    /// The instance with this `_id` (findById); nil when there is none.
    public func get(_ collection: String, id: String) throws(DBError) -> JSON? {
        _ = try requireCollection(collection)
        return try instance(collection, id)
    }

    public func has(_ collection: String, id: String) throws(DBError) -> Bool {
        try get(collection, id: id) != nil
    }

    func instance(_ collection: String, _ id: String) throws(DBError) -> JSON? {
        try get(keys.instance(collection, id)).map { bytes throws(DBError) in try JSON(parsing: bytes) }
    }

    func state(_ collection: String, _ id: String) throws(DBError) -> InstanceState? {
        try get(keys.meta(collection, id)).map { bytes throws(DBError) in try InstanceState(decoding: bytes) }
    }

    /// How a query runs: through the primary key, a secondary index, or a full scan.
    public struct Explanation: Sendable, Equatable, CustomStringConvertible {
        /// `_id`, the indexed field, or nil for a full scan.
        public let index: String?
        public let plan: String
        /// Instances read and checked against the filter.
        public let examined: Int
        public let returned: Int

        public var description: String { "\(plan); examined \(examined), returned \(returned)" }

        public var json: JSON {
            .object([
                "index": index.map(JSON.string) ?? .null, "plan": .string(plan), "examined": .number(Double(examined)),
                "returned": .number(Double(returned)),
            ])
        }
    }

    /// Instances of `collection` that match the query, sorted, skipped and limited.
    public func find(_ collection: String, _ query: Query = Query()) throws(DBError) -> [JSON] {
        try run(collection, query).results
    }

    /// Runs the query and says how.
    public func explain(_ collection: String, _ query: Query = Query()) throws(DBError) -> Explanation {
        try run(collection, query).explanation
    }

    /// The results and how they were found, in one pass.
    public func run(_ collection: String, _ query: Query) throws(DBError) -> (results: [JSON], explanation: Explanation)
    {
        let definition = try requireCollection(collection)
        var candidates: [JSON] = []
        let index: String?
        let plan: String
        if let id = Self.primaryKey(query.filter) {
            index = "_id"
            plan = "primary key _id = \(JSON.string(id))"
            if let found = try instance(collection, id) { candidates.append(found) }
        } else if let indexPlan = query.filter.plan(indexed: definition.indexes) {
            index = indexPlan.path.description
            plan = indexPlan.description
            var seen = Set<String>()
            let base = keys.index(collection, indexPlan.path)
            for range in indexPlan.ranges {
                try scan(base + range.commonPrefix) { rest, _ throws(DBError) in
                    let key = range.commonPrefix + rest
                    guard let length = IndexKey.encodedLength(key[...]) else {
                        throw .store("malformed index entry in \(collection).\(indexPlan.path)")
                    }
                    guard range.contains(key[..<length]) else { return true }
                    let id = String(decoding: key[length...], as: UTF8.self)
                    guard seen.insert(id).inserted else { return true }
                    guard let found = try instance(collection, id) else {
                        throw .store("index \(collection).\(indexPlan.path) names a missing instance \(id)")
                    }
                    candidates.append(found)
                    return true
                }
            }
        } else {
            index = nil
            plan = "full scan"
            try scan(keys.instances(collection)) { _, value throws(DBError) in
                candidates.append(try JSON(parsing: value))
                return true
            }
        }
        let results = query.run(over: candidates)
        return (
            results,
            Explanation(index: index, plan: plan, examined: candidates.count, returned: results.count)
        )
    }

    /// The `_id` a filter pins down with a top-level equality, if any.
    static func primaryKey(_ filter: Filter) -> String? {
        let conjuncts: [Filter]
        switch filter {
        case .and(let members): conjuncts = members
        case .field: conjuncts = [filter]
        default: return nil
        }
        for case .field(let path, let conditions) in conjuncts where path.description == "_id" {
            for case .eq(.string(let id)) in conditions { return id }
        }
        return nil
    }

    // MARK: - Digest

    /// SHA-256 over the materialised state: every collection by name (its definition), then its
    /// instances by `_id` (canonical JSON). Replicas that applied the same events agree.
    public func digest() throws(DBError) -> String {
        var hasher = SHA256()
        func add(_ bytes: [UInt8]) {
            var length = UInt64(bytes.count).bigEndian
            withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
            hasher.update(data: bytes)
        }
        for definition in try collections().sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            add(Array(definition.name.utf8))
            add(definition.json.canonicalBytes)
            try scan(keys.instances(definition.name)) { id, value in
                add(id)
                add(value)
                return true
            }
        }
        return hasher.finalize().map { String($0, radix: 16).leftPadded(2) }.joined()
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
