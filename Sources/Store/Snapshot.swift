internal import CLevelDB

/// A consistent, read-only view of a database at one moment: reads through it ignore later writes.
/// Released when the last reference goes away.
public final class Snapshot: @unchecked Sendable {
    // Immutable after init; LevelDB snapshots may be read from any thread.
    let database: Database
    let handle: OpaquePointer
    let readOptions: OpaquePointer

    init(database: Database, handle: OpaquePointer) {
        self.database = database
        self.handle = handle
        readOptions = leveldb_readoptions_create()
        leveldb_readoptions_set_snapshot(readOptions, handle)
    }

    /// The value for `key` as of this snapshot.
    public func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        try database.get(key, snapshot: self)
    }

    deinit {
        leveldb_readoptions_destroy(readOptions)
        database.releaseSnapshot(handle)
    }
}
