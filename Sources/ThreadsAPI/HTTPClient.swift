import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why an HTTP exchange failed.
public enum HTTPClientError: Error, CustomStringConvertible, Sendable {
    /// The TCP connection could not be established; the payload names the address and the reason.
    case cannotConnect(String)
    /// The connection ended before a complete response arrived (also reported when the calling task is cancelled).
    case connectionClosed
    /// The whole exchange took longer than the allowed time.
    case timedOut
    /// The response body is larger than the limit (the payload is the limit in bytes).
    case responseTooLarge(Int)
    /// The server sent something that is not a valid HTTP/1.1 response.
    case badResponse(String)
    /// A local file to upload could not be opened or read.
    case file(String)

    public var description: String {
        switch self {
        case .cannotConnect(let reason): "cannot connect to \(reason)"
        case .connectionClosed: "connection closed before the response was complete"
        case .timedOut: "request timed out"
        case .responseTooLarge(let limit): "response body exceeds the limit of \(limit) bytes"
        case .badResponse(let reason): "bad HTTP response: \(reason)"
        case .file(let reason): "file error: \(reason)"
        }
    }
}

/// A small HTTP/1.1 client for talking to the local daemon's API.
///
/// Each call opens its own connection and closes it afterwards (`Connection: close`), which keeps the
/// client stateless and cheap to copy; the API is low-volume so connection reuse would not pay off.
/// Plain HTTP only.
public struct HTTPClient: Sendable {
    /// A fully received response.
    public struct Response: Sendable {
        /// The status code, e.g. 200.
        public let status: Int
        /// Header fields in the order the server sent them.
        public let headers: [(String, String)]
        /// The decoded body (chunked transfer encoding already removed).
        public let body: [UInt8]

        /// Creates a response; mostly useful for tests and fakes.
        public init(status: Int, headers: [(String, String)], body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }

        /// The value of the first header called `name`, compared case-insensitively as HTTP requires.
        public func header(_ name: String) -> String? {
            let wanted = name.lowercased()
            return headers.first { $0.0.lowercased() == wanted }?.1
        }
    }

    /// The server's host name or IP literal (IPv6 with or without brackets).
    public let host: String
    /// The server's TCP port.
    public let port: Int
    /// Sent as `Authorization: Bearer …` on every request when set.
    public let bearerToken: String?
    /// The largest response body ``request(_:_:headers:body:timeout:)`` and ``upload(_:_:headers:file:progress:)``
    /// will collect before failing with ``HTTPClientError/responseTooLarge(_:)``.
    public var maxBody: Int = 64 * 1024 * 1024
    /// How long to wait for the TCP connection to be established.
    public var connectTimeout: Duration = .seconds(10)

    /// Creates a client for one server.
    ///
    /// - Parameters:
    ///   - host: An IPv4/IPv6 literal or a name such as `localhost`.
    ///   - port: The TCP port.
    ///   - bearerToken: The API token, or nil to send no `Authorization` header.
    public init(host: String, port: Int, bearerToken: String?) {
        // Brackets belong to URL syntax only; the resolver wants the bare address.
        if host.hasPrefix("["), host.hasSuffix("]") {
            self.host = String(host.dropFirst().dropLast())
        } else {
            self.host = host
        }
        self.port = port
        self.bearerToken = bearerToken
    }

    /// Performs one request and collects the whole response.
    ///
    /// The body, when given, is sent with a `Content-Length`. The response body is limited to ``maxBody`` bytes.
    ///
    /// - Parameters:
    ///   - method: The HTTP method, e.g. `GET`.
    ///   - target: The path and query, already percent-encoded.
    ///   - headers: Extra header fields; a field here replaces the default of the same name.
    ///   - body: The request body, or nil for none.
    ///   - timeout: The limit for the whole exchange, connecting included.
    public func request(
        _ method: String,
        _ target: String,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil,
        timeout: Duration = .seconds(300)
    ) async throws(HTTPClientError) -> Response {
        let head = requestHead(method, target, headers: headers, contentLength: body?.count)
        let maxBody = self.maxBody
        do {
            return try await exchange(timeout: timeout) { outbound in
                try await outbound.write(.head(head))
                if let body, !body.isEmpty {
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
                }
                try await outbound.write(.end(nil))
            } receive: { inbound in
                try await Self.collect(inbound, maxBody: maxBody)
            }
        } catch {
            // Without callbacks `exchange` only throws HTTPClientError; the fallback keeps the compiler happy.
            throw error as? HTTPClientError ?? .connectionClosed
        }
    }

    /// Performs one request whose body is streamed from a file, and collects the whole response.
    ///
    /// The file is read in 256 KiB chunks as the connection accepts them, so memory use stays flat however
    /// large the file is. `Content-Length` is the file's size when it was opened.
    ///
    /// - Parameters:
    ///   - method: The HTTP method, e.g. `PUT`.
    ///   - target: The path and query, already percent-encoded.
    ///   - headers: Extra header fields; a field here replaces the default of the same name.
    ///   - file: The path of the file to send.
    ///   - progress: Called after each chunk with the number of body bytes sent so far.
    public func upload(
        _ method: String,
        _ target: String,
        headers: [(String, String)] = [],
        file: String,
        progress: (@Sendable (Int) -> Void)? = nil
    ) async throws(HTTPClientError) -> Response {
        let source = try FileSource(path: file)
        defer { source.closeFile() }
        let head = requestHead(method, target, headers: headers, contentLength: source.size)
        let maxBody = self.maxBody
        do {
            // No overall timeout: a large upload over a slow link may legitimately take a long time.
            return try await exchange(timeout: nil) { outbound in
                try await outbound.write(.head(head))
                var sent = 0
                while sent < source.size {
                    let wanted = min(FileSource.chunkSize, source.size - sent)
                    let chunk = try await NIOThreadPool.singleton.runIfActive { try source.readChunk(max: wanted) }
                    if chunk.readableBytes == 0 {
                        throw HTTPClientError.file("\(file): file shrank while it was being sent")
                    }
                    sent += chunk.readableBytes
                    try await outbound.write(.body(.byteBuffer(chunk)))
                    progress?(sent)
                }
                try await outbound.write(.end(nil))
            } receive: { inbound in
                try await Self.collect(inbound, maxBody: maxBody)
            }
        } catch {
            throw error as? HTTPClientError ?? .connectionClosed
        }
    }

    /// Performs one request and hands the response over piece by piece as it arrives.
    ///
    /// Meant for Server-Sent Events and large downloads. `head` is called once with the status and the header
    /// fields, then `chunk` for every body part. Returns normally when the response ends or when the calling task
    /// is cancelled; cancellation closes the connection at once rather than waiting for the server. Errors thrown
    /// by the callbacks abort the exchange and are rethrown unchanged; transport failures are ``HTTPClientError``.
    ///
    /// - Parameters:
    ///   - method: The HTTP method, e.g. `GET`.
    ///   - target: The path and query, already percent-encoded.
    ///   - headers: Extra header fields; a field here replaces the default of the same name.
    ///   - body: The request body, or nil for none.
    ///   - head: Receives the status code and header fields.
    ///   - chunk: Receives each body part.
    public func stream(
        _ method: String,
        _ target: String,
        headers: [(String, String)] = [],
        body: [UInt8]? = nil,
        head: @Sendable (Int, [(String, String)]) async throws -> Void,
        chunk: @Sendable ([UInt8]) async throws -> Void
    ) async throws {
        let requestHead = requestHead(method, target, headers: headers, contentLength: body?.count)
        do {
            try await exchange(timeout: nil) { outbound in
                try await outbound.write(.head(requestHead))
                if let body, !body.isEmpty {
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
                }
                try await outbound.write(.end(nil))
            } receive: { inbound in
                var sawHead = false
                for try await part in inbound {
                    switch part {
                    case .head(let responseHead):
                        sawHead = true
                        let fields = responseHead.headers.map { ($0.name, $0.value) }
                        try await CallbackError.wrap { try await head(Int(responseHead.status.code), fields) }
                    case .body(let buffer):
                        guard sawHead else { throw HTTPClientError.badResponse("body before head") }
                        let bytes = Array(buffer.readableBytesView)
                        try await CallbackError.wrap { try await chunk(bytes) }
                    case .end:
                        return
                    }
                }
                throw HTTPClientError.connectionClosed
            }
        } catch let error as CallbackError {
            throw error.underlying
        } catch {
            // Cancellation is how callers stop listening to an endless event stream, so it is not a failure.
            if Task.isCancelled { return }
            throw error
        }
    }

    // MARK: - Internals

    /// `host:port` as it appears in the `Host` header and in error messages.
    private var authority: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? name : "\(name):\(port)"
    }

    private func requestHead(
        _ method: String,
        _ target: String,
        headers extra: [(String, String)],
        contentLength: Int?
    ) -> HTTPRequestHead {
        let method = HTTPMethod(rawValue: method.uppercased())
        var fields = HTTPHeaders()
        let overridden = Set(extra.map { $0.0.lowercased() })
        var defaults = [("Host", authority), ("User-Agent", "threads/0.1")]
        if let bearerToken {
            defaults.append(("Authorization", "Bearer \(bearerToken)"))
        }
        for (name, value) in defaults where !overridden.contains(name.lowercased()) {
            fields.add(name: name, value: value)
        }
        // Framing and connection handling are ours: a caller's value could desynchronise the exchange.
        let reserved: Set<String> = ["connection", "content-length", "transfer-encoding"]
        for (name, value) in extra where !reserved.contains(name.lowercased()) {
            fields.add(name: name, value: value)
        }
        fields.add(name: "Connection", value: "close")
        if let contentLength {
            fields.add(name: "Content-Length", value: String(contentLength))
        } else if method == .POST || method == .PUT || method == .PATCH {
            // Without an explicit length NIO would switch to chunked encoding, which some servers refuse.
            fields.add(name: "Content-Length", value: "0")
        }
        return HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: fields)
    }

    private typealias Connection = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    private func connect(timeout: Duration) async throws(HTTPClientError) -> Connection {
        do {
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                .connect(host: host, port: port) { channel in
                    channel.pipeline.addHTTPClientHandlers().flatMapThrowing {
                        try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw .cannotConnect("\(authority): \(error)")
        }
    }

    /// Connects, sends the request, and receives the response, closing the connection in every case.
    ///
    /// Throws ``HTTPClientError`` for transport failures and `CallbackError` for failures of the caller's
    /// callbacks, which `stream` passes on unchanged. The timeout and task cancellation both work by closing the
    /// channel, which ends the inbound stream and fails pending writes; a flag tells the two apart afterwards.
    private func exchange<Result: Sendable>(
        timeout: Duration?,
        send: (NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>) async throws -> Void,
        receive: (NIOAsyncChannelInboundStream<HTTPClientResponsePart>) async throws -> Result
    ) async throws -> Result {
        let start = ContinuousClock.now
        // Connecting counts against the overall timeout too, so it may not use more than that.
        let connection = try await connect(timeout: min(connectTimeout, timeout ?? connectTimeout))
        let channel = connection.channel
        let expired = Flag()
        var deadline: Scheduled<Void>?
        if let timeout {
            let remaining = timeout - (ContinuousClock.now - start)
            deadline = channel.eventLoop.scheduleTask(in: TimeAmount(max(remaining, .zero))) {
                expired.set()
                channel.close(promise: nil)
            }
        }
        defer { deadline?.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await connection.executeThenClose { inbound, outbound in
                    do {
                        try await send(outbound)
                    } catch let error as HTTPClientError {
                        throw error
                    } catch {
                        // The server may answer early (e.g. 413) and close while we are still sending; its
                        // response is more useful than the write error, so read it if it is there.
                        do {
                            return try await receive(inbound)
                        } catch let error as HTTPClientError {
                            // What the response itself was refused for (too large, malformed).
                            throw error
                        } catch {
                            throw HTTPClientError.connectionClosed
                        }
                    }
                    return try await receive(inbound)
                }
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch let error as CallbackError {
            throw error
        } catch {
            if expired.isSet { throw HTTPClientError.timedOut }
            if let error = error as? HTTPClientError { throw error }
            if let error = error as? HTTPParserError { throw HTTPClientError.badResponse("\(error)") }
            throw HTTPClientError.connectionClosed
        }
    }

    /// Receives a whole response, enforcing the body limit.
    private static func collect(
        _ inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>,
        maxBody: Int
    ) async throws -> Response {
        var head: HTTPResponseHead?
        var body = ByteBuffer()
        for try await part in inbound {
            switch part {
            case .head(let responseHead):
                // Refuse early rather than after downloading up to the limit.
                if let declared = responseHead.headers.first(name: "content-length").flatMap(Int.init),
                    declared > maxBody
                {
                    throw HTTPClientError.responseTooLarge(maxBody)
                }
                head = responseHead
            case .body(var buffer):
                guard head != nil else { throw HTTPClientError.badResponse("body before head") }
                guard body.readableBytes + buffer.readableBytes <= maxBody else {
                    throw HTTPClientError.responseTooLarge(maxBody)
                }
                body.writeBuffer(&buffer)
            case .end:
                guard let head else { throw HTTPClientError.badResponse("end of message before head") }
                return Response(
                    status: Int(head.status.code),
                    headers: head.headers.map { ($0.name, $0.value) },
                    body: Array(body.readableBytesView)
                )
            }
        }
        throw HTTPClientError.connectionClosed
    }
}

/// Carries an error thrown by a caller's callback through the transport error mapping untouched.
private struct CallbackError: Error {
    let underlying: any Error

    static func wrap(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            throw CallbackError(underlying: error)
        }
    }
}

/// A set-once flag shared between the event loop and the calling task.
private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)

    func set() { value.store(true, ordering: .releasing) }

    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// An open file read in fixed-size chunks on the blocking thread pool.
private final class FileSource: Sendable {
    /// Large enough to keep syscall overhead negligible, small enough to keep memory flat.
    static let chunkSize = 256 * 1024

    let path: String
    let size: Int
    private let descriptor: Int32

    init(path: String) throws(HTTPClientError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .file("\(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = close(descriptor)
            throw .file("\(path): \(reason)")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            _ = close(descriptor)
            throw .file("\(path): not a regular file")
        }
        self.path = path
        self.size = Int(info.st_size)
        self.descriptor = descriptor
    }

    /// Reads up to `max` bytes; an empty buffer means end of file.
    func readChunk(max: Int) throws(HTTPClientError) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: max)
        var failure: Int32 = 0
        repeat {
            failure = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: max) { pointer in
                let result = read(descriptor, pointer.baseAddress, max)
                if result < 0 { failure = errno }
                return Swift.max(result, 0)
            }
        } while failure == EINTR
        if failure != 0 {
            throw .file("\(path): \(String(cString: strerror(failure)))")
        }
        return buffer
    }

    func closeFile() {
        _ = close(descriptor)
    }
}
