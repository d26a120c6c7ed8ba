/// A collection of a thread: its name, the schema every written instance must match, and the
/// fields it keeps secondary indexes on. Definitions replicate with the thread.
public struct CollectionDefinition: Sendable, Equatable {
    public let name: String
    public let schema: JSONSchema
    public let indexes: [FieldPath]

    /// Checks the name (1-64 of letters, digits, `-`, `_`, starting with a letter) and the index
    /// paths (dot paths of non-empty steps, not starting with `$`; `_id` needs none).
    public init(name: String, schema: JSONSchema, indexes: [FieldPath] = []) throws(DBError) {
        let scalars = Array(name.unicodeScalars)
        guard (1...64).contains(scalars.count), let first = scalars.first, first.isASCII,
            first.properties.isAlphabetic,
            scalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
            })
        else { throw .badCollectionName(name) }
        for path in indexes {
            guard !path.steps.isEmpty, path.steps.allSatisfy({ !$0.isEmpty }), !path.description.hasPrefix("$") else {
                throw .badSchema("cannot index \(path.description.debugDescription): use a dot path like address.city")
            }
        }
        var seen = Set<FieldPath>()
        self.name = name
        self.schema = schema
        self.indexes = indexes.filter { seen.insert($0).inserted && $0.description != "_id" }
    }

    /// The definition as JSON, for the CLI and the API.
    public var json: JSON {
        .object([
            "name": .string(name), "schema": schema.json, "indexes": .array(indexes.map { .string($0.description) }),
        ])
    }
}
