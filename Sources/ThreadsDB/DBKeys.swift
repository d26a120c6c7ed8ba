import Multiformats
import Threads

/// Where a thread's database lives in the `/db/` keyspace (Specs/db.md, "Storage"). Collection
/// names and index paths are length-prefixed so one never reads as the prefix of another.
struct DBKeys: Sendable {
    let thread: [UInt8]

    init(_ id: ThreadID) {
        thread = id.bytes + [UInt8(ascii: "/")]
    }

    private func part(_ tag: Unicode.Scalar) -> [UInt8] { thread + [UInt8(ascii: tag), UInt8(ascii: "/")] }

    /// Everything of the thread's database.
    var all: [UInt8] { thread }
    /// Per log: how many of its records the database has applied (8 bytes, big-endian).
    func applied(_ log: PeerID) -> [UInt8] { part("a") + log.bytes }
    /// Collection definitions.
    var collections: [UInt8] { part("c") }
    func collection(_ name: String) -> [UInt8] { part("c") + Array(name.utf8) }
    /// The CRDT state of an instance.
    func meta(_ collection: String, _ id: String) -> [UInt8] {
        part("m") + Self.lengthPrefixed(collection) + Array(id.utf8)
    }
    /// The visible instance (canonical JSON), present only while it exists.
    func instances(_ collection: String) -> [UInt8] { part("i") + Self.lengthPrefixed(collection) }
    func instance(_ collection: String, _ id: String) -> [UInt8] { instances(collection) + Array(id.utf8) }
    /// Secondary index entries: `encoded value || _id`, empty values.
    func indexes(_ collection: String) -> [UInt8] { part("x") + Self.lengthPrefixed(collection) }
    func index(_ collection: String, _ path: FieldPath) -> [UInt8] {
        indexes(collection) + Self.lengthPrefixed(path.description)
    }

    static func lengthPrefixed(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        return [UInt8(clamping: bytes.count)] + bytes
    }
}
