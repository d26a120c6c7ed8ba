internal import CLevelDB

/// Walks the keys that start with a prefix, in ascending byte order from a seek key (the prefix
/// itself, or a later key inside it), yielding `(key, value)`.
///
/// Holds its database (and snapshot) open until it is released, so it can never read from a closed
/// handle. Not shared between threads: each caller makes its own.
public final class PrefixIterator: Sequence, IteratorProtocol {
    private let database: Database
    private let snapshot: Snapshot?
    private let options: OpaquePointer
    private let iterator: OpaquePointer
    private let prefix: [UInt8]
    private let seek: [UInt8]
    private var started = false
    private var finished = false

    init(
        database: Database,
        snapshot: Snapshot?,
        options: OpaquePointer,
        iterator: OpaquePointer,
        prefix: [UInt8],
        seek: [UInt8]
    ) {
        self.database = database
        self.snapshot = snapshot
        self.options = options
        self.iterator = iterator
        self.prefix = prefix
        self.seek = seek
    }

    public func next() -> (key: [UInt8], value: [UInt8])? {
        guard !finished else { return nil }
        if started {
            leveldb_iter_next(iterator)
        } else {
            started = true
            seek.withUnsafeBufferPointer { p in
                p.withMemoryRebound(to: CChar.self) { leveldb_iter_seek(iterator, $0.baseAddress, p.count) }
            }
        }
        guard leveldb_iter_valid(iterator) != 0 else {
            finished = true
            return nil
        }
        var keyLength = 0
        let keyPointer = leveldb_iter_key(iterator, &keyLength)!
        let key = Array(UnsafeRawBufferPointer(start: keyPointer, count: keyLength))
        guard key.starts(with: prefix) else {
            finished = true
            return nil
        }
        var valueLength = 0
        let valuePointer = leveldb_iter_value(iterator, &valueLength)
        let value = valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: valueLength)) } ?? []
        return (key, value)
    }

    /// An error LevelDB met while iterating (e.g. corruption), if any.
    public func checkError() throws(StoreError) {
        var error: UnsafeMutablePointer<CChar>? = nil
        leveldb_iter_get_error(iterator, &error)
        if let message = Database.take(error) { throw StoreError.from(leveldb: message, path: database.path) }
    }

    deinit {
        leveldb_iter_destroy(iterator)
        leveldb_readoptions_destroy(options)
        database.release()
    }
}
