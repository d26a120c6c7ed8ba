import Multiformats
import NIOCore

/// One multiplexed message inside a secure channel.
///
/// Wire form: `varint(bodyLength) body`, where body is `kind (1 byte) varint(id)` followed by the
/// kind's fields. Requests and one-way messages name a protocol (`/threads/<name>/<version>`).
public struct MuxFrame: Hashable, Sendable {
    public enum Kind: UInt8, Sendable {
        /// Opens request `id` for `protocol`; the payload is the request.
        case request = 0
        /// A one-way message for `protocol` (id 0); no reply.
        case message = 1
        /// The single reply to request `id`.
        case response = 2
        /// One item of a streamed reply to request `id`.
        case item = 3
        /// The end of a streamed reply.
        case end = 4
        /// Request `id` failed on the remote; the payload is a UTF-8 reason.
        case error = 5
        /// The requester no longer wants the reply to `id`.
        case cancel = 6
        /// Keep-alive probe; the remote answers with `pong` and the same id.
        case ping = 7
        case pong = 8
    }

    /// Largest frame body: a block (2 MiB) and its framing fit with room to spare.
    public static let maxBodyLength = 4 * 1024 * 1024
    /// Longest protocol name.
    public static let maxProtocolLength = 256

    public let kind: Kind
    public let id: UInt64
    /// Empty for kinds without a protocol.
    public let protocolName: String
    public let payload: [UInt8]

    public init(kind: Kind, id: UInt64, protocolName: String = "", payload: [UInt8] = []) {
        self.kind = kind
        self.id = id
        self.protocolName = protocolName
        self.payload = payload
    }

    var hasProtocol: Bool { kind == .request || kind == .message }

    /// Appends the framed encoding to `buffer`.
    public func encode(into buffer: inout ByteBuffer) throws(TransportError) {
        // The header is built apart; the payload, which may be megabytes, is copied once.
        var header: [UInt8] = [kind.rawValue]
        Varint.encode(id, into: &header)
        if hasProtocol {
            let name = Array(protocolName.utf8)
            guard !name.isEmpty, name.count <= Self.maxProtocolLength else {
                throw .malformedFrame("protocol name of \(name.count) bytes (1 to \(Self.maxProtocolLength))")
            }
            Varint.encode(UInt64(name.count), into: &header)
            header += name
        }
        let bodyLength = header.count + payload.count
        guard bodyLength <= Self.maxBodyLength else {
            throw .messageTooLarge(size: bodyLength, limit: Self.maxBodyLength)
        }
        let length = Varint.encode(UInt64(bodyLength))
        buffer.reserveCapacity(minimumWritableBytes: length.count + bodyLength)
        buffer.writeBytes(length)
        buffer.writeBytes(header)
        buffer.writeBytes(payload)
    }

    /// Reads one frame from the front of `buffer`; nil when more bytes are needed (the buffer is
    /// left untouched then). A length over the limit is an error before any body is buffered.
    public static func decode(from buffer: inout ByteBuffer) throws(TransportError) -> MuxFrame? {
        let view = buffer.readableBytesView
        let header: (value: UInt64, length: Int)
        do {
            header = try Varint.decode(view.prefix(Varint.maxLength))
        } catch .empty {
            return nil
        } catch .truncated {
            return nil
        } catch {
            throw .malformedFrame("bad length prefix: \(error)")
        }
        guard header.value <= UInt64(maxBodyLength) else {
            throw .messageTooLarge(size: Int(clamping: header.value), limit: maxBodyLength)
        }
        let bodyLength = Int(header.value)
        guard view.count >= header.length + bodyLength else { return nil }
        buffer.moveReaderIndex(forwardBy: header.length)
        // A slice shares the buffer's storage: the payload is copied once, into its array.
        return try parse(buffer.readSlice(length: bodyLength)!)
    }

    static func parse(_ body: [UInt8]) throws(TransportError) -> MuxFrame {
        try parse(ByteBuffer(bytes: body))
    }

    static func parse(_ frame: ByteBuffer) throws(TransportError) -> MuxFrame {
        let headerLength = min(frame.readableBytes, 1 + 2 * Varint.maxLength + maxProtocolLength)
        let body = frame.getBytes(at: frame.readerIndex, length: headerLength) ?? []
        guard let first = body.first else { throw .malformedFrame("empty frame") }
        guard let kind = Kind(rawValue: first) else { throw .malformedFrame("unknown frame kind \(first)") }
        var offset = 1
        func varint() throws(TransportError) -> UInt64 {
            do {
                let (value, length) = try Varint.decode(body[offset...])
                offset += length
                return value
            } catch {
                throw .malformedFrame("bad varint at byte \(offset)")
            }
        }
        let id = try varint()
        var name = ""
        if kind == .request || kind == .message {
            let length = try varint()
            guard length > 0, length <= UInt64(maxProtocolLength), length <= UInt64(body.count - offset) else {
                throw .malformedFrame("protocol name length \(length)")
            }
            guard let text = String(validating: body[offset..<offset + Int(length)], as: UTF8.self) else {
                throw .malformedFrame("protocol name is not UTF-8")
            }
            name = text
            offset += Int(length)
        }
        let payload = frame.getBytes(at: frame.readerIndex + offset, length: frame.readableBytes - offset) ?? []
        return MuxFrame(kind: kind, id: id, protocolName: name, payload: payload)
    }
}
