import Multiformats

/// The DAG-JSON codec (multicodec 0x0129): IPLD as JSON, for people and the CLI.
///
/// Links are `{"/": "<cid>"}` (CIDv1 in base32, CIDv0 in base58btc) and bytes are
/// `{"/": {"bytes": "<base64, no padding>"}}`. Encoding is canonical (keys sorted by their UTF-8
/// bytes, no whitespace, floats in their shortest round-trip form with a decimal point or an
/// exponent). Decoding follows the spec's advice to accept whitespace and any key order, but
/// rejects duplicate keys, malformed reserved `"/"` forms, and numbers outside the data model.
public enum DagJSON {
    /// The multicodec code.
    public static let code = Multicodec.dagJSON

    /// Encodes a value canonically.
    public static func encode(_ value: IPLD) throws(DagCBORError) -> [UInt8] {
        var writer = JSONWriter()
        try writer.write(value, depth: 0)
        return writer.bytes
    }

    /// Encodes without refusing maps in the reserved `"/"` namespace: used to hand a generic map
    /// back to the decoder, which then reads it as the link or bytes it spells.
    static func encodeAllowingReserved(_ value: IPLD) throws(DagCBORError) -> [UInt8] {
        var writer = JSONWriter()
        writer.allowReserved = true
        try writer.write(value, depth: 0)
        return writer.bytes
    }

    /// Decodes exactly one DAG-JSON value (surrounding whitespace allowed).
    public static func decode(_ bytes: [UInt8]) throws(DagCBORError) -> IPLD {
        let result: Result<IPLD, DagCBORError> = bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONReader(buffer)
            do throws(DagCBORError) {
                return .success(try reader.readDocument())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
