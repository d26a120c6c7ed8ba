/// Noise messages on the wire: a 2-byte big-endian length, then the message (libp2p-noise framing).
public enum NoiseFrame {
    public static let maxLength = 65535

    /// The framed message.
    public static func encode(_ message: [UInt8]) throws(TransportError) -> [UInt8] {
        guard message.count <= maxLength else { throw .messageTooLarge(size: message.count, limit: maxLength) }
        return [UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message
    }

    /// Splits one framed message off the front of `buffer`, or returns nil when more bytes are needed.
    public static func decode(_ buffer: inout [UInt8]) -> [UInt8]? {
        guard buffer.count >= 2 else { return nil }
        let length = Int(buffer[0]) << 8 | Int(buffer[1])
        guard buffer.count >= 2 + length else { return nil }
        let message = Array(buffer[2..<2 + length])
        buffer.removeFirst(2 + length)
        return message
    }
}
