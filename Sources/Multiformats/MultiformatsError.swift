/// Why a multiformat value could not be decoded or built.
///
/// Every case says which format was being read and, where it applies, the byte or character offset
/// at which the input broke a rule, so a user can find the problem in what they pasted.
public enum MultiformatsError: Error, CustomStringConvertible, Hashable, Sendable {
    /// The input ended in the middle of a value.
    case truncated(what: String, offset: Int)
    /// A varint used more bytes than its value needs (two encodings for one number are not allowed).
    case nonMinimalVarint(offset: Int)
    /// A varint ran past its maximum length.
    case varintTooLong(offset: Int, maxLength: Int)
    /// Bytes remained after a complete value.
    case trailingBytes(what: String, offset: Int)
    /// The input was empty where a value was expected.
    case empty(what: String)
    /// A string's first character names no multibase this project supports.
    case unknownMultibase(prefix: Character)
    /// A character outside the alphabet of a base.
    case invalidCharacter(base: String, character: Character, offset: Int)
    /// A value of the wrong length.
    case invalidLength(what: String, length: Int, expected: String)
    /// A codec, hash function or protocol code or name that is not known.
    case unknownCode(what: String, code: UInt64)
    /// A name that is not known.
    case unknownName(what: String, name: String)
    /// Any other rule of a format that the input broke.
    case invalid(what: String, reason: String)

    public var description: String {
        switch self {
        case .truncated(let what, let offset):
            return "\(what): input ends early at byte \(offset)"
        case .nonMinimalVarint(let offset):
            return "varint: non-minimal encoding (a redundant zero byte) at byte \(offset)"
        case .varintTooLong(let offset, let maxLength):
            return "varint: longer than \(maxLength) bytes at byte \(offset)"
        case .trailingBytes(let what, let offset):
            return "\(what): unexpected trailing bytes from byte \(offset)"
        case .empty(let what):
            return "\(what): empty input"
        case .unknownMultibase(let prefix):
            return "multibase: unsupported or unknown prefix '\(prefix)'"
        case .invalidCharacter(let base, let character, let offset):
            return "\(base): invalid character '\(character)' at offset \(offset)"
        case .invalidLength(let what, let length, let expected):
            return "\(what): length \(length), expected \(expected)"
        case .unknownCode(let what, let code):
            return "\(what): unknown code 0x\(String(code, radix: 16))"
        case .unknownName(let what, let name):
            return "\(what): unknown name '\(name)'"
        case .invalid(let what, let reason):
            return "\(what): \(reason)"
        }
    }
}
