internal import CLevelDB
internal import CLevelDBReadEnv
import Foundation
import Synchronization

/// A LevelDB database with snappy compression: the node's one datastore.
///
/// LevelDB's handles are safe to use from many threads at once, so this class is `Sendable`; the
/// only mutable state (open/closed, and the count of live iterators and snapshots) is guarded by a
/// lock. `close()` takes effect once no iterator or snapshot still reads from the database.
public final class Database: @unchecked Sendable {
    /// Options for opening.
    public struct Options: Sendable {
        public var createIfMissing: Bool
        /// LevelDB block cache size in bytes.
        public var cacheSize: Int
        /// LevelDB write buffer (memtable) size in bytes.
        public var writeBufferSize: Int
        /// Largest table file LevelDB writes, in bytes.
        public var maxFileSize: Int

        /// The defaults suit a blockstore of 256 KiB blocks: LevelDB's own (a 4 MiB memtable, 2 MiB
        /// tables) flush and compact every few blocks, which measured 5x slower for such values;
        /// 32 MiB of each keeps bulk writes near the disk's speed for at most 64 MiB of memtables.
        public init(
            createIfMissing: Bool = true,
            cacheSize: Int = 8 << 20,
            writeBufferSize: Int = 32 << 20,
            maxFileSize: Int = 32 << 20
        ) {
            self.createIfMissing = createIfMissing
            self.cacheSize = cacheSize
            self.writeBufferSize = writeBufferSize
            self.maxFileSize = maxFileSize
        }
    }

    public let path: String
    /// The blockstore's writer lock and counter cache, one per database.
    let blockCounters = BlockCounters()
    private let db: OpaquePointer
    private let options: OpaquePointer
    private let cache: OpaquePointer
    private let filter: OpaquePointer
    private let readOptions: OpaquePointer
    private let syncWrite: OpaquePointer
    private let asyncWrite: OpaquePointer
    /// Open/closed, and how many calls, iterators and snapshots are reading right now.
    private struct State {
        var isClosed = false
        var handleClosed = false
        var readers = 0
    }

    // A Mutex rather than NSLock: every read takes it twice, so its cost shows in small reads.
    private let state = Mutex(State())

    /// Opens (or creates) the database at `path`.
    ///
    /// - Throws: `StoreError.locked` when another process has it open, `.notFound` when it does not
    ///   exist and `createIfMissing` is false, `.corruption` for damaged files.
    public init(path: String, options opts: Options = Options()) throws(StoreError) {
        self.path = path
        options = leveldb_options_create()
        cache = leveldb_cache_create_lru(opts.cacheSize)
        // A bloom filter lets lookups of absent keys (the blockstore's "already stored?" check on
        // every put) skip reading table blocks from disk.
        filter = leveldb_filterpolicy_create_bloom(10)
        leveldb_options_set_filter_policy(options, filter)
        // Large blocks of table files are read with pread rather than through a mapping, where
        // they stayed in the node's resident memory (see CLevelDBReadEnv).
        if let env = threads_leveldb_read_env() { leveldb_options_set_env(options, OpaquePointer(env)) }
        leveldb_options_set_create_if_missing(options, opts.createIfMissing ? 1 : 0)
        leveldb_options_set_compression(options, Int32(leveldb_snappy_compression))
        leveldb_options_set_cache(options, cache)
        leveldb_options_set_write_buffer_size(options, opts.writeBufferSize)
        leveldb_options_set_max_file_size(options, opts.maxFileSize)
        readOptions = leveldb_readoptions_create()
        syncWrite = leveldb_writeoptions_create()
        leveldb_writeoptions_set_sync(syncWrite, 1)
        asyncWrite = leveldb_writeoptions_create()
        var error: UnsafeMutablePointer<CChar>? = nil
        let handle = leveldb_open(options, path, &error)
        if let message = Database.take(error) {
            leveldb_readoptions_destroy(readOptions)
            leveldb_writeoptions_destroy(syncWrite)
            leveldb_writeoptions_destroy(asyncWrite)
            leveldb_options_destroy(options)
            leveldb_cache_destroy(cache)
            leveldb_filterpolicy_destroy(filter)
            throw StoreError.from(leveldb: message, path: path)
        }
        db = handle!
    }

    /// Turns a LevelDB error string into a Swift string and frees it.
    static func take(_ error: UnsafeMutablePointer<CChar>?) -> String? {
        guard let error else { return nil }
        defer { leveldb_free(error) }
        return String(cString: error)
    }

    private func check(_ error: UnsafeMutablePointer<CChar>?) throws(StoreError) {
        if let message = Database.take(error) { throw StoreError.from(leveldb: message, path: path) }
    }

    /// Runs `body` while the database is guaranteed open.
    private func reading<R>(_ body: () throws(StoreError) -> R) throws(StoreError) -> R {
        try retain()
        defer { release() }
        return try body()
    }

    func retain() throws(StoreError) {
        let open = state.withLock { state -> Bool in
            guard !state.isClosed else { return false }
            state.readers += 1
            return true
        }
        guard open else { throw .closed(path: path) }
    }

    func release() {
        let shouldClose = state.withLock { state -> Bool in
            state.readers -= 1
            return state.isClosed && state.readers == 0
        }
        if shouldClose { closeHandle() }
    }

    /// The value for `key`, or nil when absent (an empty value is not absent).
    public func get(_ key: [UInt8], snapshot: Snapshot? = nil) throws(StoreError) -> [UInt8]? {
        try get(prefix: [], key, snapshot: snapshot)
    }

    /// The value for `prefix ‖ key`, copied into an array.
    public func get(prefix: [UInt8], _ key: [UInt8], snapshot: Snapshot? = nil) throws(StoreError) -> [UInt8]? {
        try reading { () throws(StoreError) -> [UInt8]? in
            guard let (value, length) = try leveldbGet(prefix: prefix, key, snapshot: snapshot) else { return nil }
            defer { leveldb_free(value) }
            return [UInt8](unsafeUninitializedCapacity: length) { out, count in
                if length > 0 {
                    UnsafeMutableRawBufferPointer(out).copyMemory(
                        from: UnsafeRawBufferPointer(start: value, count: length)
                    )
                }
                count = length
            }
        }
    }

    /// The value for `prefix ‖ key` without copying it: the `Data` owns LevelDB's buffer and frees
    /// it when released. For large values read once (serving blocks), this saves a copy per read.
    public func getData(prefix: [UInt8], _ key: [UInt8], snapshot: Snapshot? = nil) throws(StoreError) -> Data? {
        try reading { () throws(StoreError) -> Data? in
            guard let (value, length) = try leveldbGet(prefix: prefix, key, snapshot: snapshot) else { return nil }
            return Data(bytesNoCopy: value, count: length, deallocator: .custom { pointer, _ in leveldb_free(pointer) })
        }
    }

    /// LevelDB's copy of the value for `prefix ‖ key` (the caller frees it), joining the two parts
    /// on the stack rather than the heap: this is the hot path of every keyspace read.
    private func leveldbGet(
        prefix: [UInt8],
        _ key: [UInt8],
        snapshot: Snapshot?
    ) throws(StoreError) -> (UnsafeMutablePointer<CChar>, Int)? {
        var length = 0
        var error: UnsafeMutablePointer<CChar>? = nil
        let opts = snapshot?.readOptions ?? readOptions
        let total = prefix.count + key.count
        let value = withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(total, 1)) { joined in
            prefix.withUnsafeBytes { UnsafeMutableRawBufferPointer(joined).copyMemory(from: $0) }
            key.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(joined)[prefix.count...])
                    .copyMemory(from: $0)
            }
            return leveldb_get(db, opts, joined.baseAddress, total, &length, &error)
        }
        try check(error)
        return value.map { ($0, length) }
    }

    /// Whether `key` has a value.
    public func contains(_ key: [UInt8], snapshot: Snapshot? = nil) throws(StoreError) -> Bool {
        try get(key, snapshot: snapshot) != nil
    }

    /// Stores one value. With `sync`, returns only once the write is on disk.
    public func put(_ key: [UInt8], _ value: [UInt8], sync: Bool = false) throws(StoreError) {
        var batch = WriteBatch()
        batch.put(key, value)
        try write(batch, sync: sync)
    }

    /// Deletes one key (deleting a missing key is not an error).
    public func delete(_ key: [UInt8], sync: Bool = false) throws(StoreError) {
        var batch = WriteBatch()
        batch.delete(key)
        try write(batch, sync: sync)
    }

    /// Applies every operation of `batch` atomically: after a crash, all of them or none are there.
    /// With `sync`, returns only once the batch is on disk (acknowledged writes survive `kill -9`).
    public func write(_ batch: WriteBatch, sync: Bool = false) throws(StoreError) {
        try reading { () throws(StoreError) in
            let handle = leveldb_writebatch_create()
            defer { leveldb_writebatch_destroy(handle) }
            for op in batch.operations {
                switch op {
                case .put(let key, let value):
                    key.withUnsafeBufferPointer { k in
                        value.withUnsafeBufferPointer { v in
                            k.withMemoryRebound(to: CChar.self) { kc in
                                v.withMemoryRebound(to: CChar.self) { vc in
                                    leveldb_writebatch_put(handle, kc.baseAddress, k.count, vc.baseAddress, v.count)
                                }
                            }
                        }
                    }
                case .delete(let key):
                    key.withUnsafeBufferPointer { k in
                        k.withMemoryRebound(to: CChar.self) {
                            leveldb_writebatch_delete(handle, $0.baseAddress, k.count)
                        }
                    }
                }
            }
            var error: UnsafeMutablePointer<CChar>? = nil
            leveldb_write(db, sync ? syncWrite : asyncWrite, handle, &error)
            try check(error)
        }
    }

    /// Waits until every write made so far is on disk (an empty synced batch flushes the log).
    public func sync() throws(StoreError) {
        try write(WriteBatch(), sync: true)
    }

    /// A consistent read-only view of the database as it is now.
    public func snapshot() throws(StoreError) -> Snapshot {
        try retain()
        return Snapshot(database: self, handle: leveldb_create_snapshot(db))
    }

    func releaseSnapshot(_ handle: OpaquePointer) {
        leveldb_release_snapshot(db, handle)
        release()
    }

    /// Iterates keys starting with `prefix` in ascending byte order, optionally over a snapshot,
    /// from the first such key at or after `start` (the whole prefix when nil).
    public func scan(prefix: [UInt8] = [], from start: [UInt8]? = nil, snapshot: Snapshot? = nil) throws(StoreError)
        -> PrefixIterator
    {
        try retain()
        let opts = leveldb_readoptions_create()!
        leveldb_readoptions_set_fill_cache(opts, 0)
        if let snapshot { leveldb_readoptions_set_snapshot(opts, snapshot.handle) }
        let iterator = leveldb_create_iterator(db, opts)!
        // A start before the prefix would only walk keys outside it.
        let seek = start.map { $0.lexicographicallyPrecedes(prefix) ? prefix : $0 } ?? prefix
        return PrefixIterator(
            database: self,
            snapshot: snapshot,
            options: opts,
            iterator: iterator,
            prefix: prefix,
            seek: seek
        )
    }

    /// LevelDB's estimate of the bytes on disk used by keys in `[start, limit)`.
    public func approximateSize(from start: [UInt8], to limit: [UInt8]) throws(StoreError) -> UInt64 {
        try reading { () throws(StoreError) -> UInt64 in
            var size: UInt64 = 0
            start.withUnsafeBufferPointer { s in
                limit.withUnsafeBufferPointer { l in
                    s.withMemoryRebound(to: CChar.self) { sc in
                        l.withMemoryRebound(to: CChar.self) { lc in
                            var startPtr: UnsafePointer<CChar>? = sc.baseAddress
                            var limitPtr: UnsafePointer<CChar>? = lc.baseAddress
                            var startLen = s.count
                            var limitLen = l.count
                            leveldb_approximate_sizes(db, 1, &startPtr, &startLen, &limitPtr, &limitLen, &size)
                        }
                    }
                }
            }
            return size
        }
    }

    /// Forces LevelDB to compact the key range (all keys when both are nil).
    public func compact() throws(StoreError) {
        try reading { () throws(StoreError) in leveldb_compact_range(db, nil, 0, nil, 0) }
    }

    /// Closes the database. Later calls throw `.closed`; the files are released once any live
    /// iterator or snapshot is gone.
    public func close() {
        let shouldClose = state.withLock { state -> Bool in
            let should = !state.isClosed && state.readers == 0
            state.isClosed = true
            return should
        }
        if shouldClose { closeHandle() }
    }

    private func closeHandle() {
        let first = state.withLock { state -> Bool in
            defer { state.handleClosed = true }
            return !state.handleClosed
        }
        if first { leveldb_close(db) }
    }

    deinit {
        if !state.withLock({ $0.handleClosed }) { leveldb_close(db) }
        leveldb_readoptions_destroy(readOptions)
        leveldb_writeoptions_destroy(syncWrite)
        leveldb_writeoptions_destroy(asyncWrite)
        leveldb_options_destroy(options)
        leveldb_cache_destroy(cache)
        leveldb_filterpolicy_destroy(filter)
    }
}
