/// One action of a write transaction.
public enum WriteAction: Sendable, Equatable {
    /// A new collection; fails when one of that name exists.
    case newCollection(CollectionDefinition)
    /// A new schema or index list for an existing collection. Instances already stored are not
    /// checked against the new schema; later writes are.
    case updateCollection(CollectionDefinition)
    /// A new instance; its `_id` is generated unless given. Fails when the `_id` is taken.
    case create(collection: String, instance: JSON)
    /// Replaces an existing instance (found by its `_id`) with this one; only the fields that
    /// differ travel, so concurrent saves of different fields both take effect.
    case save(collection: String, instance: JSON)
    case delete(collection: String, id: String)
}
