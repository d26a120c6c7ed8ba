/// The multibase encodings this project reads and writes: a one-character prefix names the base.
///
/// base32 and base64 variants here are unpadded, as the multibase table defines them. base16,
/// base32 and base36 are case-insensitive: mixed case decodes, and encoding uses the variant's case.
public enum Multibase: String, Hashable, Sendable, CaseIterable {
    case base16
    case base16upper
    case base32
    case base32upper
    case base36
    case base36upper
    case base58btc
    case base64
    case base64url

    /// The prefix character of the multibase table.
    public var prefix: Character {
        switch self {
        case .base16: "f"
        case .base16upper: "F"
        case .base32: "b"
        case .base32upper: "B"
        case .base36: "k"
        case .base36upper: "K"
        case .base58btc: "z"
        case .base64: "m"
        case .base64url: "u"
        }
    }

    /// The name in the multibase table (`base32`, `base58btc`, …).
    public var name: String { rawValue }

    /// The base with this multibase table name, if supported.
    public init?(name: String) {
        self.init(rawValue: name)
    }

    /// The base with this prefix character, if supported.
    public init?(prefix: Character) {
        guard let base = Multibase.allCases.first(where: { $0.prefix == prefix }) else { return nil }
        self = base
    }

    /// Encodes `bytes` with the prefix character.
    public static func encode(_ bytes: some Collection<UInt8>, as base: Multibase) -> String {
        String(base.prefix) + base.encodeBare(bytes)
    }

    /// Decodes a prefixed multibase string.
    public static func decode(_ string: String) throws(MultiformatsError) -> (base: Multibase, bytes: [UInt8]) {
        guard let first = string.first else { throw .empty(what: "multibase") }
        guard let base = Multibase(prefix: first) else { throw .unknownMultibase(prefix: first) }
        let body = Array(string.utf8.dropFirst(String(first).utf8.count))
        return (base, try base.decodeBare(body, offset: 1))
    }

    /// Encodes without the prefix character (a CIDv0 and a PeerID are bare base58btc).
    public func encodeBare(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        let ascii: [UInt8]
        switch self {
        case .base16: ascii = BaseCodec.base16(input, upper: false)
        case .base16upper: ascii = BaseCodec.base16(input, upper: true)
        case .base32: ascii = BaseCodec.encode2n(input, alphabet: BaseCodec.base32Lower, bits: 5)
        case .base32upper: ascii = BaseCodec.encode2n(input, alphabet: BaseCodec.base32Upper, bits: 5)
        case .base36: ascii = BaseCodec.encodeRadix(input, alphabet: BaseCodec.base36Lower)
        case .base36upper: ascii = BaseCodec.encodeRadix(input, alphabet: BaseCodec.base36Upper)
        case .base58btc: ascii = BaseCodec.encodeRadix(input, alphabet: BaseCodec.base58btc)
        case .base64: ascii = BaseCodec.encode2n(input, alphabet: BaseCodec.base64Standard, bits: 6)
        case .base64url: ascii = BaseCodec.encode2n(input, alphabet: BaseCodec.base64URL, bits: 6)
        }
        return String(decoding: ascii, as: UTF8.self)
    }

    /// Decodes a string without its prefix character.
    public func decodeBare(_ string: String) throws(MultiformatsError) -> [UInt8] {
        try decodeBare(Array(string.utf8), offset: 0)
    }

    /// Decodes ASCII without the prefix; `offset` is added to positions in errors.
    func decodeBare(_ ascii: [UInt8], offset: Int) throws(MultiformatsError) -> [UInt8] {
        switch self {
        case .base16, .base16upper:
            return try BaseCodec.decodeBase16(ascii, offset: offset, name: name)
        case .base32, .base32upper:
            return try BaseCodec.decode2n(ascii, table: BaseCodec.base32Table, bits: 5, offset: offset, name: name)
        case .base36, .base36upper:
            return try BaseCodec.decodeRadix(ascii, table: BaseCodec.base36Table, radix: 36, offset: offset, name: name)
        case .base58btc:
            return try BaseCodec.decodeRadix(ascii, table: BaseCodec.base58Table, radix: 58, offset: offset, name: name)
        case .base64:
            return try BaseCodec.decode2n(
                ascii,
                table: BaseCodec.base64StandardTable,
                bits: 6,
                offset: offset,
                name: name
            )
        case .base64url:
            return try BaseCodec.decode2n(ascii, table: BaseCodec.base64URLTable, bits: 6, offset: offset, name: name)
        }
    }
}
