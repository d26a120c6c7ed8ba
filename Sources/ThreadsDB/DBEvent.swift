import DagCBOR

/// The body of a database event: the actions of one write transaction, applied together
/// (Specs/db.md). Encoded as DAG-CBOR `{"db": 1, "actions": [...]}`; values travel as canonical
/// JSON text so they keep exactly the JSON data model.
struct DBEvent: Sendable, Equatable {
    static let version = 1

    enum Action: Sendable, Equatable {
        /// Defines a collection, or replaces its definition (newest stamp wins).
        case collection(CollectionDefinition)
        /// A new instance with these fields (without `_id`).
        case create(collection: String, id: String, fields: [String: JSON])
        /// Changes to some fields of an instance.
        case save(collection: String, id: String, set: [String: JSON], unset: [String])
        case delete(collection: String, id: String)

        var collection: String {
            switch self {
            case .collection(let definition): definition.name
            case .create(let collection, _, _), .save(let collection, _, _, _), .delete(let collection, _): collection
            }
        }
    }

    var actions: [Action]

    var encoded: [UInt8] {
        let list = actions.map { action -> IPLD in
            switch action {
            case .collection(let definition):
                return .map([
                    "op": "collection", "name": .string(definition.name),
                    "schema": .string(definition.schema.json.serialized),
                    "indexes": .list(definition.indexes.map { .string($0.description) }),
                ])
            case .create(let collection, let id, let fields):
                return .map([
                    "op": "create", "c": .string(collection), "id": .string(id),
                    "set": .map(fields.mapValues { .string($0.serialized) }),
                ])
            case .save(let collection, let id, let set, let unset):
                return .map([
                    "op": "save", "c": .string(collection), "id": .string(id),
                    "set": .map(set.mapValues { .string($0.serialized) }), "unset": .list(unset.map { .string($0) }),
                ])
            case .delete(let collection, let id):
                return .map(["op": "delete", "c": .string(collection), "id": .string(id)])
            }
        }
        // Strings, lists and maps of them always encode.
        return try! DagCBOR.encode(.map(["db": .integer(IPLDInteger(Self.version)), "actions": .list(list)]))
    }

    init(actions: [Action]) {
        self.actions = actions
    }

    /// Decodes an event body. Nil when the body is not a database event at all (other records of
    /// a thread); an error when it claims to be one but is malformed or of an unknown version.
    init?(decoding bytes: [UInt8]) throws(DBError) {
        guard let value = try? DagCBOR.decode(bytes), let map = value.mapValue, let version = map["db"] else {
            return nil
        }
        guard version.intValue == Self.version else {
            throw .malformedEvent("database event version \(version) (this node reads version \(Self.version))")
        }
        guard let list = map["actions"]?.listValue else { throw .malformedEvent("no actions") }
        var actions: [Action] = []
        for item in list {
            guard let op = item["op"]?.stringValue else { throw .malformedEvent("an action without op") }
            func text(_ key: String) throws(DBError) -> String {
                guard let value = item[key]?.stringValue else { throw .malformedEvent("\(op) without \(key)") }
                return value
            }
            func values(_ key: String) throws(DBError) -> [String: JSON] {
                guard let map = item[key]?.mapValue else { throw .malformedEvent("\(op) without \(key)") }
                var out: [String: JSON] = [:]
                for (name, value) in map {
                    guard let text = value.stringValue else {
                        throw .malformedEvent("\(op): field \(name) is not text")
                    }
                    out[name] = try JSON(parsing: text)
                }
                return out
            }
            switch op {
            case "collection":
                let schemaText = try text("schema")
                guard let indexes = item["indexes"]?.listValue?.compactMap(\.stringValue) else {
                    throw .malformedEvent("collection without indexes")
                }
                actions.append(
                    .collection(
                        try CollectionDefinition(
                            name: try text("name"),
                            schema: JSONSchema(JSON(parsing: schemaText)),
                            indexes: indexes.map(FieldPath.init)
                        )
                    )
                )
            case "create":
                actions.append(.create(collection: try text("c"), id: try text("id"), fields: try values("set")))
            case "save":
                guard let unset = item["unset"]?.listValue?.compactMap(\.stringValue) else {
                    throw .malformedEvent("save without unset")
                }
                actions.append(
                    .save(collection: try text("c"), id: try text("id"), set: try values("set"), unset: unset)
                )
            case "delete":
                actions.append(.delete(collection: try text("c"), id: try text("id")))
            default:
                throw .malformedEvent("unknown action \(op)")
            }
        }
        self.actions = actions
    }
}
