import Multiformats

/// Encodes one DAG-CBOR map of a fixed shape straight to bytes, for hot paths that would
/// otherwise build an `IPLD.map` (a dictionary of boxed values) only to sort and encode it.
///
/// The caller names the keys in DAG-CBOR's canonical order (shorter first, then bytewise) and
/// writes each key's value right after it. The output is byte-for-byte what `DagCBOR.encode`
/// gives for the same map. Keys out of order, or a count that does not match, are programming
/// errors and stop the process: they would make non-canonical bytes that every peer rejects.
public struct DagCBORMapWriter {
    private var writer = CBORWriter()
    private let count: Int
    private var written = 0
    private var previousKey: StaticString?

    /// Starts a map of `count` entries.
    public init(count: Int) {
        self.count = count
        writer.head(5, UInt64(count))
    }

    /// Writes the next key; its value must follow.
    public mutating func key(_ key: StaticString) {
        precondition(written < count, "more than \(count) entries in a map")
        if let previousKey {
            precondition(
                Self.precedes(previousKey, key),
                "map key \(key) written after \(previousKey): not DAG-CBOR order"
            )
        }
        previousKey = key
        written += 1
        writer.head(3, UInt64(key.utf8CodeUnitCount))
        writer.bytes.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
    }

    public mutating func bytes(_ value: [UInt8]) {
        writer.head(2, UInt64(value.count))
        writer.bytes.append(contentsOf: value)
    }

    public mutating func unsigned(_ value: UInt64) {
        writer.head(0, value)
    }

    public mutating func link(_ cid: CID) {
        writer.write(link: cid)
    }

    public mutating func null() {
        writer.bytes.append(0xf6)
    }

    /// Any other value, encoded as `DagCBOR.encode` would.
    public mutating func value(_ value: IPLD) throws(DagCBORError) {
        try writer.write(value, depth: 1)
    }

    /// The encoded map.
    public var encoded: [UInt8] {
        precondition(written == count, "\(written) of \(count) map entries written")
        return writer.bytes
    }

    private static func precedes(_ a: StaticString, _ b: StaticString) -> Bool {
        if a.utf8CodeUnitCount != b.utf8CodeUnitCount { return a.utf8CodeUnitCount < b.utf8CodeUnitCount }
        return UnsafeBufferPointer(start: a.utf8Start, count: a.utf8CodeUnitCount)
            .lexicographicallyPrecedes(UnsafeBufferPointer(start: b.utf8Start, count: b.utf8CodeUnitCount))
    }
}

extension DagCBOR {
    /// The encoding of `.bytes(value)`, without building the value.
    public static func encode(bytes value: [UInt8]) -> [UInt8] {
        var writer = CBORWriter()
        writer.bytes.reserveCapacity(value.count + 9)
        writer.head(2, UInt64(value.count))
        writer.bytes.append(contentsOf: value)
        return writer.bytes
    }
}
