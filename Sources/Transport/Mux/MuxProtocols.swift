import Multiformats

/// A request that arrived for a protocol this node serves.
public struct MuxInboundRequest: Sendable {
    public let remotePeer: PeerID
    public let protocolName: String
    public let payload: [UInt8]
}

/// How a handler answers: one response, or a stream of items ended by the stream finishing.
public enum MuxReply: Sendable {
    case single([UInt8])
    case stream(AsyncThrowingStream<[UInt8], any Error>)
}

/// The protocols a node serves on its connections, by name (`/threads/<name>/<version>`).
public struct MuxProtocols: Sendable {
    public typealias RequestHandler = @Sendable (MuxInboundRequest) async throws -> MuxReply
    public typealias MessageHandler = @Sendable (MuxInboundRequest) async -> Void

    var requests: [String: RequestHandler] = [:]
    var messages: [String: MessageHandler] = [:]
    var orderedMessages: [String: MessageHandler] = [:]

    public init() {}

    /// Serves requests for `name`. A thrown error is sent to the requester as its message.
    public mutating func handleRequests(_ name: String, _ handler: @escaping RequestHandler) {
        requests[name] = handler
    }

    /// Receives one-way messages for `name`.
    public mutating func handleMessages(_ name: String, _ handler: @escaping MessageHandler) {
        messages[name] = handler
    }

    /// Receives one-way messages for `name` one at a time, in the order the peer sent them. The
    /// connection reads nothing more until the handler returns, so a slow handler slows the peer
    /// (TCP flow control) instead of buffering: handlers should hand work off quickly.
    public mutating func handleOrderedMessages(_ name: String, _ handler: @escaping MessageHandler) {
        orderedMessages[name] = handler
    }
}
