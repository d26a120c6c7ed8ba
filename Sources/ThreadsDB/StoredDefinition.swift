import DagCBOR

/// A collection definition as stored: with the stamp of the action that wrote it, so a newer
/// definition replaces an older one whatever order they arrive in.
struct StoredDefinition: Sendable, Equatable {
    let definition: CollectionDefinition
    let stamp: Stamp

    init(definition: CollectionDefinition, stamp: Stamp) {
        self.definition = definition
        self.stamp = stamp
    }

    var encoded: [UInt8] {
        // Strings and lists always encode.
        try! DagCBOR.encode(
            .map([
                "name": .string(definition.name), "schema": .string(definition.schema.json.serialized),
                "indexes": .list(definition.indexes.map { .string($0.description) }), "stamp": stamp.ipld,
            ])
        )
    }

    init(decoding bytes: [UInt8]) throws(DBError) {
        guard let map = try? DagCBOR.decode(bytes).mapValue, let name = map["name"]?.stringValue,
            let schema = map["schema"]?.stringValue, let indexes = map["indexes"]?.listValue?.compactMap(\.stringValue),
            let stamp = Stamp(map["stamp"])
        else { throw .malformedEvent("stored collection definition does not decode") }
        definition = try CollectionDefinition(
            name: name,
            schema: JSONSchema(JSON(parsing: schema)),
            indexes: indexes.map(FieldPath.init)
        )
        self.stamp = stamp
    }
}
