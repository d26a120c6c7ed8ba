/// Why a DAG-CBOR or DAG-JSON value could not be decoded or encoded.
///
/// Decoding errors carry the byte offset in the input and the rule broken.
public struct DagCBORError: Error, CustomStringConvertible, Hashable, Sendable {
    /// What kind of failure this is, for code that reacts to it.
    public enum Kind: Hashable, Sendable {
        /// The input ended inside a value.
        case truncated
        /// A form DAG-CBOR or DAG-JSON forbids, or a malformed one.
        case invalid
        /// Bytes after the single top-level value.
        case trailingBytes
        /// Nesting deeper than `DagCBOR.Limits.maxDepth`.
        case tooDeep
        /// A value the data model cannot represent (NaN, infinity, an out-of-range integer).
        case unrepresentable
        /// A `Codable` type did not match the data.
        case typeMismatch
    }

    public let kind: Kind
    /// Which codec or layer reported it: "dag-cbor", "dag-json", "codable".
    public let codec: String
    /// Byte offset in the input, when decoding.
    public let offset: Int?
    /// What went wrong, in words.
    public let reason: String

    public init(_ kind: Kind, codec: String, offset: Int?, _ reason: String) {
        self.kind = kind
        self.codec = codec
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        if let offset { return "\(codec): \(reason) at byte \(offset)" }
        return "\(codec): \(reason)"
    }
}
