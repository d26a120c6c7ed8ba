/// A content identifier: which codec a block is encoded with and the multihash of its bytes.
///
/// - v0: the bare sha2-256 multihash of a dag-pb block, printed as base58btc (`Qm…`).
/// - v1: `varint(1) varint(codec) multihash`, printed in any multibase (base32 by default).
///
/// Equality and hashing are on the binary form, so a v0 CID and its v1 equivalent are different
/// CIDs (as in every IPLD implementation); `toV1()` converts.
public struct CID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// 0 or 1.
    public let version: Int
    /// The content codec's multicodec code (raw, dag-cbor, …). Unknown codes are carried.
    public let codec: UInt64
    /// The multihash of the block's bytes.
    public let multihash: Multihash
    /// The canonical binary form.
    public let bytes: [UInt8]

    /// Builds a CID, checking the v0 rules (dag-pb, sha2-256 with a 32-byte digest).
    public init(version: Int, codec: UInt64, multihash: Multihash) throws(MultiformatsError) {
        switch version {
        case 0:
            guard codec == Multicodec.dagPB else {
                throw .invalid(what: "CIDv0", reason: "codec must be dag-pb (0x70), not 0x\(String(codec, radix: 16))")
            }
            guard multihash.code == Multicodec.sha2_256, multihash.digestLength == 32 else {
                throw .invalid(what: "CIDv0", reason: "multihash must be sha2-256 with a 32-byte digest")
            }
            bytes = multihash.bytes
        case 1:
            bytes = CID.v1Bytes(codec: codec, multihash: multihash)
        default:
            throw .invalid(what: "CID", reason: "unsupported version \(version)")
        }
        self.version = version
        self.codec = codec
        self.multihash = multihash
    }

    /// A CIDv1 (cannot fail: every codec and multihash is valid in v1).
    public static func v1(codec: UInt64, multihash: Multihash) -> CID {
        CID(version: 1, codec: codec, multihash: multihash, bytes: v1Bytes(codec: codec, multihash: multihash))
    }

    /// `varint(1) varint(codec) multihash`.
    private static func v1Bytes(codec: UInt64, multihash: Multihash) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(4 + multihash.bytes.count)
        Varint.encode(1, into: &out)
        Varint.encode(codec, into: &out)
        out.append(contentsOf: multihash.bytes)
        return out
    }

    private init(version: Int, codec: UInt64, multihash: Multihash, bytes: [UInt8]) {
        self.version = version
        self.codec = codec
        self.multihash = multihash
        self.bytes = bytes
    }

    /// Parses a complete binary CID; trailing bytes are an error.
    public init(bytes: some Collection<UInt8>) throws(MultiformatsError) {
        try self.init(bytes: Array(bytes))
    }

    /// Parses a complete binary CID; trailing bytes are an error. (Not generic: links are decoded
    /// by the thousand, and a generic call from another module converts its argument through the
    /// runtime's type metadata.)
    public init(bytes: [UInt8]) throws(MultiformatsError) {
        let (cid, length) = try CID.decodePrefix(bytes)
        guard length == bytes.count else { throw .trailingBytes(what: "CID", offset: length) }
        self = cid
    }

    /// Reads a binary CID from the front of `bytes` starting at `start` (as inside a DAG-CBOR link),
    /// returning how many bytes it took.
    ///
    /// A CIDv0 is recognised by its first two bytes (0x12 0x20: sha2-256, 32 bytes); everything else
    /// must start with the version varint 1.
    public static func decodePrefix(_ bytes: [UInt8], from start: Int = 0) throws(MultiformatsError) -> (
        CID, length: Int
    ) {
        guard start < bytes.count else { throw .empty(what: "CID") }
        if bytes[start] == 0x12 && bytes.count - start >= 2 && bytes[start + 1] == 0x20 {
            let (multihash, length) = try Multihash.decodePrefix(bytes, from: start)
            let cid = CID(version: 0, codec: Multicodec.dagPB, multihash: multihash, bytes: multihash.bytes)
            return (cid, length)
        }
        var reader = ByteReader(bytes, offset: start, what: "CID")
        let version = try reader.varint()
        guard version == 1 else {
            throw .invalid(what: "CID", reason: "unsupported version \(version) at byte \(start)")
        }
        let codec = try reader.varint()
        let (multihash, mhLength) = try Multihash.decodePrefix(bytes, from: reader.offset)
        let end = reader.offset + mhLength
        // A whole array that is exactly the CID (a decoded link) is kept rather than copied.
        let own = start == 0 && end == bytes.count ? bytes : Array(bytes[start..<end])
        let cid = CID(version: 1, codec: codec, multihash: multihash, bytes: own)
        return (cid, end - start)
    }

    /// Parses a CID string: a bare base58btc CIDv0 (`Qm…`, 46 characters) or a CIDv1 in any
    /// supported multibase.
    public init(_ string: String) throws(MultiformatsError) {
        if string.utf8.count == 46 && string.hasPrefix("Qm") {
            let bytes = try Multibase.base58btc.decodeBare(string)
            self = try CID(bytes: bytes)
            guard version == 0 else { throw .invalid(what: "CID", reason: "a Qm… string must be a CIDv0") }
            return
        }
        guard !string.isEmpty else { throw .empty(what: "CID") }
        let (_, bytes) = try Multibase.decode(string)
        let cid = try CID(bytes: bytes)
        // A CIDv0 only exists as bare base58btc; a multibase-prefixed one is not canonical.
        guard cid.version == 1 else {
            throw .invalid(
                what: "CID",
                reason: "a CIDv0 cannot carry a multibase prefix; write it as bare base58btc (Qm…)"
            )
        }
        self = cid
    }

    /// The CID as a string in `base`. A CIDv0 has only one string form, bare base58btc.
    public func string(base: Multibase) throws(MultiformatsError) -> String {
        if version == 0 {
            guard base == .base58btc else {
                throw .invalid(what: "CIDv0", reason: "only base58btc can print a CIDv0; convert it to v1 first")
            }
            return Multibase.base58btc.encodeBare(bytes)
        }
        return Multibase.encode(bytes, as: base)
    }

    /// The default string form: bare base58btc for v0, base32 for v1.
    public var description: String {
        version == 0 ? Multibase.base58btc.encodeBare(bytes) : Multibase.encode(bytes, as: .base32)
    }

    /// The CIDv1 naming the same content (a v1 CID is returned unchanged).
    public func toV1() -> CID {
        version == 1 ? self : CID.v1(codec: codec, multihash: multihash)
    }

    public static func == (lhs: CID, rhs: CID) -> Bool {
        lhs.bytes == rhs.bytes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combineBytes(bytes)
    }

    /// Orders by binary form, so sorted CIDs are the same on every node.
    public static func < (lhs: CID, rhs: CID) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}
