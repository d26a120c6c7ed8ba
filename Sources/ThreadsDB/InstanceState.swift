import DagCBOR

/// What a replica keeps of one instance: a state-based CRDT whose merge is a per-component
/// maximum, so it does not matter in which order, or how often, actions are applied.
///
/// - `born`: the stamp of the newest `create`. A create replaces the whole instance: fields
///   written before it are dropped.
/// - `died`: the stamp of the newest `delete` (a tombstone).
/// - `fields`: per top-level field, the newest write at or after `born` (a value, or nil for a
///   field a `save` removed).
///
/// The instance exists when it was created and its newest create is newer than its newest delete
/// (a save never revives a deleted instance). Its visible fields are those whose newest write
/// holds a value.
struct InstanceState: Sendable {
    var born: Stamp?
    var died: Stamp?
    var fields: [String: (stamp: Stamp, value: JSON?)] = [:]

    var exists: Bool {
        guard let born else { return false }
        return died.map { born > $0 } ?? true
    }

    /// The instance as readers see it, with its `_id`; nil when it does not exist.
    func visible(id: String) -> JSON? {
        guard exists else { return nil }
        var object: [String: JSON] = [:]
        for (name, entry) in fields { if let value = entry.value { object[name] = value } }
        object["_id"] = .string(id)
        return .object(object)
    }

    /// A create at `stamp` with these fields (without `_id`).
    mutating func create(_ values: [String: JSON], at stamp: Stamp) {
        if let born, born >= stamp { return }
        born = stamp
        fields = fields.filter { $0.value.stamp > stamp }
        for (name, value) in values { write(name, value, at: stamp) }
    }

    /// A save at `stamp`: sets `values`, removes `removed`.
    mutating func save(set values: [String: JSON], unset removed: [String], at stamp: Stamp) {
        // Writes older than the newest create can never be seen again.
        if let born, stamp < born { return }
        for (name, value) in values { write(name, value, at: stamp) }
        for name in removed { write(name, nil, at: stamp) }
    }

    mutating func delete(at stamp: Stamp) {
        if let died, died >= stamp { return }
        died = stamp
    }

    private mutating func write(_ name: String, _ value: JSON?, at stamp: Stamp) {
        if let current = fields[name], current.stamp >= stamp { return }
        fields[name] = (stamp, value)
    }

    // MARK: - Stored form (DAG-CBOR)

    var encoded: [UInt8] {
        var map: [String: IPLD] = [:]
        if let born { map["born"] = born.ipld }
        if let died { map["died"] = died.ipld }
        var fieldMap: [String: IPLD] = [:]
        for (name, entry) in fields {
            fieldMap[name] = .list([entry.stamp.ipld, entry.value.map { .string($0.serialized) } ?? .null])
        }
        map["fields"] = .map(fieldMap)
        // A map of strings, lists and integers always encodes.
        return try! DagCBOR.encode(.map(map))
    }

    init() {}

    init(decoding bytes: [UInt8]) throws(DBError) {
        guard let map = try? DagCBOR.decode(bytes).mapValue, let fieldMap = map["fields"]?.mapValue else {
            throw .malformedEvent("stored instance state does not decode")
        }
        if map["born"] != nil {
            guard let born = Stamp(map["born"]) else { throw .malformedEvent("bad stored stamp") }
            self.born = born
        }
        if map["died"] != nil {
            guard let died = Stamp(map["died"]) else { throw .malformedEvent("bad stored stamp") }
            self.died = died
        }
        for (name, entry) in fieldMap {
            guard let pair = entry.listValue, pair.count == 2, let stamp = Stamp(pair[0]) else {
                throw .malformedEvent("bad stored field \(name)")
            }
            if let text = pair[1].stringValue {
                fields[name] = (stamp, try JSON(parsing: text))
            } else {
                fields[name] = (stamp, nil)
            }
        }
    }
}
