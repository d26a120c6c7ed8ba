/// The multicodec table entries this project uses: content codecs, hash functions, key types and
/// multiaddr protocols. Codes not listed are still carried by number wherever a code is read.
public enum Multicodec {
    public static let identity: UInt64 = 0x00
    public static let cidv1: UInt64 = 0x01
    public static let sha1: UInt64 = 0x11
    public static let sha2_256: UInt64 = 0x12
    public static let sha2_512: UInt64 = 0x13
    public static let blake2b_256: UInt64 = 0xb220
    public static let cbor: UInt64 = 0x51
    public static let raw: UInt64 = 0x55
    public static let dagPB: UInt64 = 0x70
    public static let dagCBOR: UInt64 = 0x71
    public static let libp2pKey: UInt64 = 0x72
    public static let dagJSON: UInt64 = 0x0129
    public static let json: UInt64 = 0x0200
    public static let ed25519Pub: UInt64 = 0xed
    public static let x25519Pub: UInt64 = 0xec

    /// Every named entry, as (name, code).
    public static let table: [(name: String, code: UInt64)] = [
        ("identity", 0x00),
        ("cidv1", 0x01),
        ("ip4", 0x04),
        ("tcp", 0x06),
        ("sha1", 0x11),
        ("sha2-256", 0x12),
        ("sha2-512", 0x13),
        ("sha3-512", 0x14),
        ("sha3-384", 0x15),
        ("sha3-256", 0x16),
        ("sha3-224", 0x17),
        ("ip6", 0x29),
        ("dns", 0x35),
        ("dns4", 0x36),
        ("dns6", 0x37),
        ("cbor", 0x51),
        ("raw", 0x55),
        ("dag-pb", 0x70),
        ("dag-cbor", 0x71),
        ("libp2p-key", 0x72),
        ("x25519-pub", 0xec),
        ("ed25519-pub", 0xed),
        ("udp", 0x0111),
        ("dag-json", 0x0129),
        ("thread", 0x0196),
        ("p2p", 0x01a5),
        ("quic-v1", 0x01cd),
        ("json", 0x0200),
        ("blake2b-256", 0xb220),
    ]

    private static let byCode: [UInt64: String] = Dictionary(uniqueKeysWithValues: table.map { ($0.code, $0.name) })
    private static let byName: [String: UInt64] = Dictionary(uniqueKeysWithValues: table.map { ($0.name, $0.code) })

    /// The table name of a code, or nil when this project does not know it.
    public static func name(for code: UInt64) -> String? {
        byCode[code]
    }

    /// The code of a table name, or nil when this project does not know it.
    public static func code(for name: String) -> UInt64? {
        byName[name]
    }
}
