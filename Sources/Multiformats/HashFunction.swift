/// The hash functions this project computes. Other multihash codes are parsed and carried.
public enum HashFunction: Hashable, Sendable, CaseIterable {
    /// The data itself as the digest (used for small values such as Ed25519 peer IDs).
    case identity
    /// SHA-256, computed with swift-crypto (BoringSSL, using the CPU's SHA extensions).
    case sha2_256
    /// SHA-512, computed with swift-crypto.
    case sha2_512
    /// BLAKE2b with a 32-byte output, computed with libsodium's generichash.
    case blake2b_256

    /// The multihash code.
    public var code: UInt64 {
        switch self {
        case .identity: Multicodec.identity
        case .sha2_256: Multicodec.sha2_256
        case .sha2_512: Multicodec.sha2_512
        case .blake2b_256: Multicodec.blake2b_256
        }
    }

    /// The multicodec table name.
    public var name: String {
        switch self {
        case .identity: "identity"
        case .sha2_256: "sha2-256"
        case .sha2_512: "sha2-512"
        case .blake2b_256: "blake2b-256"
        }
    }

    /// Full digest length in bytes; nil for identity, whose digest is the input.
    public var digestLength: Int? {
        switch self {
        case .identity: nil
        case .sha2_256, .blake2b_256: 32
        case .sha2_512: 64
        }
    }

    /// The function with this multihash code, if computed here.
    public init?(code: UInt64) {
        guard let function = HashFunction.allCases.first(where: { $0.code == code }) else { return nil }
        self = function
    }

    /// The function with this multicodec name, if computed here.
    public init?(name: String) {
        guard let function = HashFunction.allCases.first(where: { $0.name == name }) else { return nil }
        self = function
    }
}
