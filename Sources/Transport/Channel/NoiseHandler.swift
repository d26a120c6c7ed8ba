import Logging
import Multiformats
import NIOCore
import Sodium

/// What a completed handshake proved about the remote.
public struct NoiseHandshakeResult: Sendable {
    public let remoteIdentity: Ed25519.PublicKey
    public var remotePeer: PeerID { remoteIdentity.peerID }
}

/// Runs the Noise XX handshake on a channel, then encrypts and decrypts the byte stream above it.
///
/// Below it: incoming Noise messages split by `NoiseFrameDecoder`; outgoing messages leave framed
/// (2-byte length) by this handler, so a write is sealed straight into its wire buffer. Above it: a
/// plaintext byte stream; outgoing writes larger than one Noise message are split, and the messages
/// decrypted in one read burst are passed up together when the burst ends. Writes made before the
/// handshake completes are held and sent once it does. Any handshake or decryption failure closes
/// the channel.
final class NoiseHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case handshaking(NoiseHandshake)
        case transport(NoiseSession)
        case failed
    }

    private var state: State
    private var pending: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    /// Plaintext of the messages decrypted in this read burst, passed up as one buffer when the
    /// burst ends: one element per socket read for the reader above rather than one per message.
    private var decrypted: ByteBuffer?
    /// Plaintext held back at most: a burst larger than this goes up in pieces of about this size.
    static let coalesceLimit = 256 << 10
    private let completion: EventLoopPromise<NoiseHandshakeResult>
    private let timeout: TimeAmount
    private let logger: Logger
    private var timeoutTask: Scheduled<Void>?
    /// A promise may be completed only once.
    private var completed = false

    private func complete(_ result: Result<NoiseHandshakeResult, any Error>) {
        guard !completed else { return }
        completed = true
        completion.completeWith(result)
    }

    /// Fulfilled when the handshake completes, failed when it fails or the channel closes first.
    var handshakeResult: EventLoopFuture<NoiseHandshakeResult> { completion.futureResult }

    init(handshake: NoiseHandshake, eventLoop: any EventLoop, timeout: TimeAmount = .seconds(10), logger: Logger) {
        self.logger = logger
        state = .handshaking(handshake)
        completion = eventLoop.makePromise()
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A channel that never became active (a refused dial) is torn down without channelInactive.
        timeoutTask?.cancel()
        complete(.failure(TransportError.connectionClosed))
        for (_, promise) in pending { promise?.fail(ChannelError.ioOnClosedChannel) }
        pending = []
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard timeoutTask == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeoutTask = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.fail(context: context, TransportError.outOfOrder("handshake did not complete within the timeout"))
        }
        // The initiator speaks first.
        if case .handshaking(let handshake) = state, handshake.isOurTurn { advance(context: context) }
    }

    /// Writes our handshake messages while it is our turn; finishes when complete.
    private func advance(context: ChannelHandlerContext) {
        guard case .handshaking(var handshake) = state else { return }
        do {
            while handshake.isOurTurn {
                let message = try NoiseFrame.encode(handshake.writeMessage())
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: message)), promise: nil)
            }
            if handshake.isComplete {
                let session = try handshake.session()
                state = .transport(session)
                timeoutTask?.cancel()
                complete(.success(NoiseHandshakeResult(remoteIdentity: session.remoteIdentity)))
                let held = pending
                pending = []
                for (data, promise) in held { write(context: context, data: wrapOutboundOut(data), promise: promise) }
                context.flush()
            } else {
                state = .handshaking(handshake)
            }
        } catch {
            fail(context: context, error)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .handshaking(var handshake):
            do {
                try handshake.readMessage(Array(buffer: unwrapInboundIn(data)))
                state = .handshaking(handshake)
                advance(context: context)
            } catch {
                fail(context: context, error)
            }
        case .transport(var session):
            let ciphertext = unwrapInboundIn(data)
            var plaintext = decrypted ?? context.channel.allocator.buffer(capacity: ciphertext.readableBytes)
            decrypted = nil
            do {
                try ciphertext.withUnsafeReadableBytes { (bytes) throws(TransportError) in
                    try session.decrypt(bytes, appendingTo: &plaintext)
                }
                state = .transport(session)
                if plaintext.readableBytes >= Self.coalesceLimit {
                    context.fireChannelRead(wrapInboundOut(plaintext))
                } else {
                    decrypted = plaintext
                }
            } catch {
                fail(context: context, error)
            }
        case .failed:
            break
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var buffer = unwrapOutboundIn(data)
        switch state {
        case .handshaking:
            pending.append((buffer, promise))
        case .transport(var session):
            // All the Noise messages of one write go out in one buffer, framed and sealed in place:
            // no intermediate arrays, one allocation per write.
            let messages = max(1, (buffer.readableBytes + NoiseSession.maxPlaintext - 1) / NoiseSession.maxPlaintext)
            var out = context.channel.allocator.buffer(
                capacity: buffer.readableBytes + messages * (2 + AEADAlgorithm.tagLength)
            )
            do {
                repeat {
                    let length = min(buffer.readableBytes, NoiseSession.maxPlaintext)
                    out.writeInteger(UInt16(length + AEADAlgorithm.tagLength))
                    try buffer.readWithUnsafeReadableBytes { (bytes) throws(TransportError) -> Int in
                        try session.encrypt(UnsafeRawBufferPointer(rebasing: bytes[0..<length]), appendingTo: &out)
                        return length
                    }
                } while buffer.readableBytes > 0
                state = .transport(session)
                context.write(wrapOutboundOut(out), promise: promise)
            } catch {
                promise?.fail(error)
                fail(context: context, error)
            }
        case .failed:
            promise?.fail(TransportError.outOfOrder("the secure channel has failed"))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        passUpDecrypted(context: context)
        context.fireChannelReadComplete()
    }

    private func passUpDecrypted(context: ChannelHandlerContext) {
        guard let plaintext = decrypted else { return }
        decrypted = nil
        context.fireChannelRead(wrapInboundOut(plaintext))
    }

    func channelInactive(context: ChannelHandlerContext) {
        passUpDecrypted(context: context)
        timeoutTask?.cancel()
        complete(.failure(TransportError.outOfOrder("the connection closed during the handshake")))
        for (_, promise) in pending { promise?.fail(ChannelError.ioOnClosedChannel) }
        pending = []
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, error)
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        if case .failed = state { return }
        let phase = completed ? "secure channel" : "handshake"
        logger.notice(
            "closing connection",
            metadata: [
                "remote": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")", "phase": "\(phase)",
                "reason": "\(error)",
            ]
        )
        state = .failed
        timeoutTask?.cancel()
        complete(.failure(error))
        for (_, promise) in pending { promise?.fail(error) }
        pending = []
        // Messages that authenticated before the failing one were genuine: they still go up.
        passUpDecrypted(context: context)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
