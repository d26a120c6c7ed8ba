import Logging
import Multiformats
import NIOCore

/// Protocol-multiplexed calls over one secure channel: requests with ids and timeouts, streamed
/// replies, one-way messages, cancellation and keep-alive pings.
///
/// Call `run()` in a task for as long as the connection should live; it returns (or throws) when
/// the connection ends, failing every outstanding call with `connectionClosed`.
public actor MuxConnection {
    public struct Options: Sendable {
        /// Default time a request may take.
        public var requestTimeout: Duration = .seconds(30)
        /// Interval between keep-alive pings.
        public var keepAliveInterval: Duration = .seconds(15)
        /// Consecutive intervals without a pong after which the peer is taken for gone.
        public var keepAliveMisses = 3
        /// Inbound requests and messages handled at once; past this the connection stops reading,
        /// so a flooding peer is slowed by TCP rather than buffered in memory.
        public var maxConcurrentInbound = 64
        /// Items of a streamed reply buffered for a slow consumer before the call fails.
        public var maxBufferedItems = 1024
        /// Pongs, error replies and other control frames waiting behind a full write window;
        /// past this the peer is taken to send without reading, and the connection closes.
        public var maxQueuedControlFrames = 4096
        /// Where the reasons for closing a connection are logged.
        public var logger = Logger(label: "threads.mux")

        public init() {}
    }

    private enum Call {
        case single(CheckedContinuation<[UInt8], any Error>)
        case stream(AsyncThrowingStream<[UInt8], any Error>.Continuation)
    }

    public nonisolated let remotePeer: PeerID
    /// Where the peer was dialled, or where it connected from.
    public nonisolated let remoteAddress: Multiaddr?
    private let secure: SecureChannel
    private let protocols: MuxProtocols
    private let options: Options
    private var calls: [UInt64: (name: String, call: Call)] = [:]
    /// Timers of single-reply requests, cancelled when the reply comes.
    private var timers: [UInt64: Task<Void, Never>] = [:]
    private var inbound: [UInt64: Task<Void, Never>] = [:]
    private var inFlight = 0
    private var slotWaiters: [CheckedContinuation<Void, Never>] = []
    private var nextID: UInt64 = 1
    private var unansweredPings = 0
    /// Control frames and replies sent without waiting, not yet written.
    private var queuedControlFrames = 0
    private var isClosed = false

    public init(_ secure: SecureChannel, protocols: MuxProtocols, options: Options = Options()) {
        self.secure = secure
        self.remotePeer = secure.remotePeer
        self.remoteAddress = secure.remoteAddress
        self.protocols = protocols
        self.options = options
    }

    // MARK: - Running

    /// Reads and dispatches frames until the connection ends.
    public func run() async throws {
        defer { shutDown() }
        do {
            try await serveConnection()
        } catch is CancellationError {
            // The owner stopped the connection: nothing to report.
        } catch {
            options.logger.notice("closing connection", metadata: ["peer": "\(remotePeer)", "reason": "\(error)"])
            throw error
        }
    }

    private func serveConnection() async throws {
        try await secure.channel.executeThenClose { inboundStream, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.keepAlive() }
                var buffer = ByteBuffer()
                for try await chunk in inboundStream {
                    // Frames that end within the chunk are read from it where it lies; only a
                    // partial frame's bytes are carried over into the next read.
                    if buffer.readableBytes == 0 { buffer = chunk } else { buffer.writeImmutableBuffer(chunk) }
                    while let frame = try MuxFrame.decode(from: &buffer) {
                        try await self.dispatch(frame)
                    }
                    if buffer.readableBytes == 0 { buffer = ByteBuffer() } else { buffer.discardReadBytes() }
                }
                group.cancelAll()
            }
        }
    }

    /// Closes the connection; outstanding calls fail with `connectionClosed`.
    public func close() async {
        // Calls made from now on, and those waiting, fail at once; and the read loop may be
        // parked (waiting for a free handler slot) where it would never see the channel close.
        shutDown()
        try? await secure.channel.channel.close()
    }

    private func shutDown() {
        isClosed = true
        for (_, entry) in calls {
            switch entry.call {
            case .single(let continuation): continuation.resume(throwing: TransportError.connectionClosed)
            case .stream(let continuation): continuation.finish(throwing: TransportError.connectionClosed)
            }
        }
        calls = [:]
        for (_, timer) in timers { timer.cancel() }
        timers = [:]
        for (_, task) in inbound { task.cancel() }
        inbound = [:]
        for waiter in slotWaiters { waiter.resume() }
        slotWaiters = []
    }

    private func send(_ frame: MuxFrame) async throws {
        var buffer = ByteBuffer()
        try frame.encode(into: &buffer)
        guard !isClosed else { throw TransportError.connectionClosed }
        do {
            try await secure.write(buffer)
        } catch let error as TransportError {
            throw error
        } catch {
            // The channel closed underneath (I/O on a closed channel, a finished writer).
            throw TransportError.connectionClosed
        }
    }

    /// Sends without waiting, for replies from handlers and control frames. Each waits in a
    /// task of its own behind the write window, so their number is bounded: a peer that causes
    /// them (pings, requests for unknown protocols) without reading the answers would otherwise
    /// grow them without end.
    private func sendDetached(_ frame: MuxFrame) throws(TransportError) {
        guard queuedControlFrames < options.maxQueuedControlFrames else {
            throw .unreadReplies(queued: queuedControlFrames)
        }
        queuedControlFrames += 1
        Task {
            try? await self.send(frame)
            self.queuedControlFrames -= 1
        }
    }

    private func keepAlive() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: options.keepAliveInterval)
            if unansweredPings >= options.keepAliveMisses {
                // Several intervals without an answer: the peer is gone.
                options.logger.notice(
                    "closing connection",
                    metadata: [
                        "peer": "\(remotePeer)", "reason": "no pong for \(unansweredPings) keep-alive intervals",
                    ]
                )
                await close()
                return
            }
            unansweredPings += 1
            // Not awaited: behind a full write window the ping waits, and the misses are still
            // counted, so a peer that stopped reading is found out too. (With the queue full the
            // read loop is closing the connection already.)
            try? sendDetached(MuxFrame(kind: .ping, id: 0))
        }
    }

    // MARK: - Calls out

    /// Sends a request and waits for its single reply.
    public func request(_ protocolName: String, _ payload: [UInt8], timeout: Duration? = nil) async throws -> [UInt8] {
        let id = nextID
        nextID += 1
        let frame = MuxFrame(kind: .request, id: id, protocolName: protocolName, payload: payload)
        let limit = timeout ?? options.requestTimeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                guard !isClosed else {
                    continuation.resume(throwing: TransportError.connectionClosed)
                    return
                }
                calls[id] = (protocolName, .single(continuation))
                Task {
                    do { try await self.send(frame) } catch { self.fail(id, error) }
                }
                timers[id] = Task {
                    guard (try? await Task.sleep(for: limit)) != nil else { return }
                    await self.fail(
                        id,
                        TransportError.timedOut(protocolName: protocolName, after: limit),
                        cancelRemote: true
                    )
                }
            }
        } onCancel: {
            Task { await self.fail(id, CancellationError(), cancelRemote: true) }
        }
    }

    /// Sends a request whose reply is a stream of items.
    public func requestStream(_ protocolName: String, _ payload: [UInt8]) -> AsyncThrowingStream<[UInt8], any Error> {
        let id = nextID
        nextID += 1
        let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(options.maxBufferedItems)
        )
        guard !isClosed else {
            continuation.finish(throwing: TransportError.connectionClosed)
            return stream
        }
        calls[id] = (protocolName, .stream(continuation))
        continuation.onTermination = { termination in
            if case .cancelled = termination { Task { await self.fail(id, CancellationError(), cancelRemote: true) } }
        }
        Task {
            do {
                try await self.send(MuxFrame(kind: .request, id: id, protocolName: protocolName, payload: payload))
            } catch {
                self.fail(id, error)
            }
        }
        return stream
    }

    /// Sends a one-way message.
    public func message(_ protocolName: String, _ payload: [UInt8]) async throws {
        try await send(MuxFrame(kind: .message, id: 0, protocolName: protocolName, payload: payload))
    }

    private func removeCall(_ id: UInt64) -> Call? {
        timers.removeValue(forKey: id)?.cancel()
        return calls.removeValue(forKey: id)?.call
    }

    private func fail(_ id: UInt64, _ error: any Error, cancelRemote: Bool = false) {
        guard let call = removeCall(id) else { return }
        let entry = (name: "", call: call)
        switch entry.call {
        case .single(let continuation): continuation.resume(throwing: error)
        case .stream(let continuation): continuation.finish(throwing: error)
        }
        // A cancel is a courtesy: with the queue full it is left out.
        if cancelRemote { try? sendDetached(MuxFrame(kind: .cancel, id: id)) }
    }

    // MARK: - Frames in

    private func dispatch(_ frame: MuxFrame) async throws {
        switch frame.kind {
        case .request, .message:
            try await serve(frame)
        case .response:
            guard case .single(let continuation)? = removeCall(frame.id) else { return }
            continuation.resume(returning: frame.payload)
        case .item:
            guard let entry = calls[frame.id], case .stream(let continuation) = entry.call else { return }
            if case .dropped = continuation.yield(frame.payload) {
                fail(
                    frame.id,
                    TransportError.malformedFrame("more than \(options.maxBufferedItems) unread stream items"),
                    cancelRemote: true
                )
            }
        case .end:
            guard case .stream(let continuation)? = removeCall(frame.id) else { return }
            continuation.finish()
        case .error:
            let reason = String(decoding: frame.payload, as: UTF8.self)
            let error: TransportError =
                reason.hasPrefix("unknown protocol ")
                ? .unknownProtocol(String(reason.dropFirst(17))) : .remoteError(reason)
            fail(frame.id, error)
        case .cancel:
            inbound[frame.id]?.cancel()
        case .ping:
            try sendDetached(MuxFrame(kind: .pong, id: frame.id))
        case .pong:
            unansweredPings = 0
        }
    }

    private func serve(_ frame: MuxFrame) async throws {
        let request = MuxInboundRequest(
            remotePeer: remotePeer,
            protocolName: frame.protocolName,
            payload: frame.payload
        )
        if frame.kind == .message, let ordered = protocols.orderedMessages[frame.protocolName] {
            await ordered(request)
            return
        }
        if frame.kind == .message {
            guard let handler = protocols.messages[frame.protocolName] else { return }
            await acquireSlot()
            let task = Task {
                await handler(request)
                self.releaseSlot(nil)
            }
            _ = task
            return
        }
        guard let handler = protocols.requests[frame.protocolName] else {
            try sendDetached(
                MuxFrame(kind: .error, id: frame.id, payload: Array("unknown protocol \(frame.protocolName)".utf8))
            )
            return
        }
        await acquireSlot()
        let id = frame.id
        inbound[id] = Task {
            do {
                switch try await handler(request) {
                case .single(let payload):
                    try await self.send(MuxFrame(kind: .response, id: id, payload: payload))
                case .stream(let items):
                    for try await item in items {
                        try Task.checkCancellation()
                        try await self.send(MuxFrame(kind: .item, id: id, payload: item))
                    }
                    try await self.send(MuxFrame(kind: .end, id: id))
                }
            } catch is CancellationError {
                // The requester cancelled: nothing more to send.
            } catch {
                try? await self.send(MuxFrame(kind: .error, id: id, payload: Array("\(error)".utf8)))
            }
            self.releaseSlot(id)
        }
    }

    private func acquireSlot() async {
        while inFlight >= options.maxConcurrentInbound && !isClosed {
            await withCheckedContinuation { slotWaiters.append($0) }
        }
        inFlight += 1
    }

    private func releaseSlot(_ id: UInt64?) {
        if let id { inbound[id] = nil }
        inFlight -= 1
        if !slotWaiters.isEmpty { slotWaiters.removeFirst().resume() }
    }
}
