/// What went wrong in a ThreadsDB call, and where.
public enum DBError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Text that is not JSON: `where` is `line L, column C`.
    case badJSON(where: String, reason: String)
    /// A schema that cannot be used.
    case badSchema(String)
    /// An instance that breaks its collection's schema, at `path` (`$` is the whole instance).
    case schemaViolation(collection: String, path: String, reason: String)
    /// An instance that is not an object, or has an `_id` that is not a non-empty string.
    case badInstance(String)
    /// A query that cannot be run.
    case badQuery(String)
    case unknownCollection(String)
    case collectionExists(String)
    case badCollectionName(String)
    case instanceExists(collection: String, id: String)
    case instanceNotFound(collection: String, id: String)
    /// This node holds no read key for the thread (a blind replica), or does not know it.
    case cannotRead(String)
    /// A stored or received event this version does not understand.
    case malformedEvent(String)
    /// The thread layer refused or failed.
    case threads(String)
    case store(String)

    public var description: String {
        switch self {
        case .badJSON(let place, let reason): "malformed JSON at \(place): \(reason)"
        case .badSchema(let reason): "bad schema: \(reason)"
        case .schemaViolation(let collection, let path, let reason):
            "instance does not match the schema of \(collection) at \(path): \(reason)"
        case .badInstance(let reason): "bad instance: \(reason)"
        case .badQuery(let reason): "bad query: \(reason)"
        case .unknownCollection(let name): "no collection named \(name)"
        case .collectionExists(let name): "collection \(name) exists already"
        case .badCollectionName(let name):
            "bad collection name \(name.debugDescription): use 1-64 letters, digits, '-' or '_', starting with a letter"
        case .instanceExists(let collection, let id): "\(collection) already has an instance with _id \(id)"
        case .instanceNotFound(let collection, let id): "\(collection) has no instance with _id \(id)"
        case .cannotRead(let reason): "cannot read: \(reason)"
        case .malformedEvent(let reason): "malformed event: \(reason)"
        case .threads(let reason): reason
        case .store(let reason): "store: \(reason)"
        }
    }
}
