import Crypto
import Multiformats

/// A point in the DHT's 256-bit key space: SHA-256 of a peer ID's bytes (node IDs) or of a
/// content multihash (provider keys). Distance between keys is their XOR, compared as a big-endian
/// unsigned number.
public struct DHTKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The 32 bytes of the key.
    public let bytes: [UInt8]

    public static let byteCount = 32
    public static let bitCount = 256

    /// Wraps 32 bytes that already are a key.
    public init(bytes: [UInt8]) throws(DHTError) {
        guard bytes.count == Self.byteCount else {
            throw .malformed("a DHT key has \(Self.byteCount) bytes, not \(bytes.count)")
        }
        self.bytes = bytes
    }

    init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The node ID of a peer: SHA-256 of its peer ID bytes.
    public init(peer: PeerID) {
        bytes = Array(SHA256.hash(data: peer.bytes))
    }

    /// The key under which providers of some content are stored: SHA-256 of its multihash.
    public init(content: CID) {
        bytes = Array(SHA256.hash(data: content.multihash.bytes))
    }

    /// XOR distance to `other`, itself a key-sized number.
    public func distance(to other: DHTKey) -> DHTKey {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        for index in 0..<Self.byteCount { out[index] = bytes[index] ^ other.bytes[index] }
        return DHTKey(unchecked: out)
    }

    /// How many leading bits the two keys share (256 for equal keys).
    public func commonPrefixLength(with other: DHTKey) -> Int {
        for index in 0..<Self.byteCount {
            let x = bytes[index] ^ other.bytes[index]
            if x != 0 { return index * 8 + x.leadingZeroBitCount }
        }
        return Self.bitCount
    }

    /// True when `a` is strictly closer to this key than `b`.
    public func isCloser(_ a: DHTKey, than b: DHTKey) -> Bool {
        for index in 0..<Self.byteCount {
            let da = a.bytes[index] ^ bytes[index]
            let db = b.bytes[index] ^ bytes[index]
            if da != db { return da < db }
        }
        return false
    }

    /// A random key that shares exactly `prefix` leading bits with this one: a target for
    /// refreshing the bucket at that index.
    public func random(sharingPrefix prefix: Int) -> DHTKey {
        precondition(prefix >= 0 && prefix < Self.bitCount)
        var generator = SystemRandomNumberGenerator()
        var out = (0..<Self.byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for bit in 0...prefix {
            let byte = bit / 8
            let mask = UInt8(0x80) >> UInt8(bit % 8)
            let wanted = bit == prefix ? ~bytes[byte] & mask : bytes[byte] & mask
            out[byte] = (out[byte] & ~mask) | wanted
        }
        return DHTKey(unchecked: out)
    }

    /// Orders keys as unsigned big-endian numbers.
    public static func < (lhs: DHTKey, rhs: DHTKey) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    public var description: String {
        bytes.prefix(8).map { String($0, radix: 16).leftPadded(2) }.joined() + "…"
    }

    /// Lowercase hex of all 32 bytes.
    public var hex: String { bytes.map { String($0, radix: 16).leftPadded(2) }.joined() }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
