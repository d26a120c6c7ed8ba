import Multiformats

/// Encoded bytes with the CID that names them.
public struct Block: Hashable, Sendable {
    public let cid: CID
    public let bytes: [UInt8]

    /// Encodes `value` with a DAG codec and hashes it into a CIDv1.
    ///
    /// - Parameters:
    ///   - codec: `DagCBOR.code` or `DagJSON.code`.
    ///   - hash: the hash function for the CID.
    public init(value: IPLD, codec: UInt64 = DagCBOR.code, hash: HashFunction = .sha2_256) throws(DagCBORError) {
        let bytes: [UInt8]
        switch codec {
        case DagCBOR.code: bytes = try DagCBOR.encode(value)
        case DagJSON.code: bytes = try DagJSON.encode(value)
        default:
            throw DagCBORError(
                .invalid,
                codec: "block",
                offset: nil,
                "cannot encode with codec 0x\(String(codec, radix: 16)); use dag-cbor or dag-json"
            )
        }
        try self.init(bytes: bytes, codec: codec, hash: hash)
    }

    /// Hashes already-encoded bytes into a CIDv1 with `codec`.
    public init(bytes: [UInt8], codec: UInt64, hash: HashFunction = .sha2_256) throws(DagCBORError) {
        let multihash: Multihash
        do {
            multihash = try Multihash.hash(bytes, using: hash)
        } catch {
            throw DagCBORError(.invalid, codec: "block", offset: nil, "\(error)")
        }
        cid = CID.v1(codec: codec, multihash: multihash)
        self.bytes = bytes
    }

    /// Pairs bytes with their CID, checking that the bytes hash to it.
    ///
    /// - Throws: when the hash does not match, or the CID's hash function is not computed here.
    public init(cid: CID, bytes: [UInt8]) throws(DagCBORError) {
        guard cid.multihash.function != nil else {
            throw DagCBORError(
                .invalid,
                codec: "block",
                offset: nil,
                "cannot verify \(cid): hash function 0x\(String(cid.multihash.code, radix: 16)) is not supported"
            )
        }
        guard cid.multihash.verify(bytes) else {
            throw DagCBORError(.invalid, codec: "block", offset: nil, "bytes do not hash to \(cid)")
        }
        self.cid = cid
        self.bytes = bytes
    }

    /// Pairs bytes with a CID the caller has just computed from them (no second hash).
    public init(unchecked cid: CID, bytes: [UInt8]) {
        self.cid = cid
        self.bytes = bytes
    }

    /// Decodes the bytes by the CID's codec: dag-cbor, dag-json, or raw (as `.bytes`).
    public func decode() throws(DagCBORError) -> IPLD {
        switch cid.codec {
        case DagCBOR.code: return try DagCBOR.decode(bytes)
        case DagJSON.code: return try DagJSON.decode(bytes)
        case Multicodec.raw: return .bytes(bytes)
        default:
            let name = Multicodec.name(for: cid.codec) ?? "0x" + String(cid.codec, radix: 16)
            throw DagCBORError(.invalid, codec: "block", offset: nil, "cannot decode codec \(name)")
        }
    }
}
