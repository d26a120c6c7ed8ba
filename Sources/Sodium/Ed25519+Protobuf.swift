import Multiformats

/// libp2p's key protobufs: `PublicKey`/`PrivateKey { required KeyType Type = 1; required bytes Data = 2; }`
/// with `KeyType.Ed25519 = 1`. Ed25519 public data is the 32-byte key; private data is
/// `seed ‖ public key` (64 bytes; the older 96-byte form with the public key twice is accepted).
enum KeyProtobuf {
    static let ed25519Type = 1

    /// Encodes fields 1 (varint type) and 2 (bytes) in the deterministic order libp2p specifies.
    static func encode(type: Int, data: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = [0x08]
        Varint.encode(UInt64(type), into: &out)
        out.append(0x12)
        Varint.encode(UInt64(data.count), into: &out)
        out.append(contentsOf: data)
        return out
    }

    /// Decodes the two fields; unknown fields, repeated fields and wire-type mismatches are errors.
    static func decode(_ bytes: [UInt8]) throws(SodiumError) -> (type: Int, data: ArraySlice<UInt8>) {
        var offset = 0
        var type: Int?
        var data: ArraySlice<UInt8>?
        func varint() throws(SodiumError) -> UInt64 {
            do {
                let (value, length) = try Varint.decode(bytes[offset...])
                offset += length
                return value
            } catch {
                throw .invalidProtobuf(reason: "bad varint", offset: offset)
            }
        }
        while offset < bytes.count {
            let tagOffset = offset
            let tag = try varint()
            switch tag {
            case 0x08:
                guard type == nil else { throw .invalidProtobuf(reason: "repeated Type field", offset: tagOffset) }
                let value = try varint()
                guard value <= 16 else {
                    throw .invalidProtobuf(reason: "key type \(value) out of range", offset: tagOffset)
                }
                type = Int(value)
            case 0x12:
                guard data == nil else { throw .invalidProtobuf(reason: "repeated Data field", offset: tagOffset) }
                let length = try varint()
                guard length <= UInt64(bytes.count - offset) else {
                    throw .invalidProtobuf(reason: "Data runs past the end", offset: tagOffset)
                }
                data = bytes[offset..<offset + Int(length)]
                offset += Int(length)
            default:
                throw .invalidProtobuf(reason: "unexpected field tag 0x\(String(tag, radix: 16))", offset: tagOffset)
            }
        }
        guard let type else { throw .invalidProtobuf(reason: "missing Type field", offset: bytes.count) }
        guard let data else { throw .invalidProtobuf(reason: "missing Data field", offset: bytes.count) }
        return (type, data)
    }
}

extension Ed25519.PublicKey {
    /// The libp2p protobuf form (`08 01 12 20 ‖ key`), which the peer ID hashes.
    public var protobufBytes: [UInt8] {
        KeyProtobuf.encode(type: KeyProtobuf.ed25519Type, data: rawRepresentation)
    }

    /// Parses the libp2p protobuf form.
    public init(protobufBytes bytes: [UInt8]) throws(SodiumError) {
        let (type, data) = try KeyProtobuf.decode(bytes)
        guard type == KeyProtobuf.ed25519Type else { throw .unsupportedKeyType(type) }
        try self.init(rawRepresentation: Array(data))
    }
}

extension Ed25519.PrivateKey {
    /// The libp2p protobuf form (`08 01 12 40 ‖ seed ‖ public key`), in wiped storage: this is what
    /// `identity.key` holds.
    public var protobufBytes: SecureBytes {
        // Written straight into wiped storage so no plain copy of the seed is left behind.
        let seed = self.seed
        return SecureBytes(count: 68) { out in
            out.copyBytes(from: [0x08, 0x01, 0x12, 0x40])
            seed.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[4..<36]).copyMemory(from: $0) }
            publicKey.rawRepresentation.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: out[36..<68]).copyMemory(from: $0)
            }
        }
    }

    /// Parses the libp2p protobuf form, checking that the embedded public key matches the seed.
    public init(protobufBytes bytes: some Collection<UInt8>) throws(SodiumError) {
        let (type, data) = try KeyProtobuf.decode(Array(bytes))
        guard type == KeyProtobuf.ed25519Type else { throw .unsupportedKeyType(type) }
        guard data.count == 64 || data.count == 96 else {
            throw .invalidLength(what: "Ed25519 private key data", length: data.count, expected: 64)
        }
        let start = data.startIndex
        let seed = Array(data[start..<start + 32])
        let embedded = Array(data[start + 32..<start + 64])
        if data.count == 96 && Array(data[start + 64..<start + 96]) != embedded { throw .inconsistentKeyPair }
        try self.init(seed: seed)
        guard publicKey.rawRepresentation == embedded else { throw .inconsistentKeyPair }
    }
}
