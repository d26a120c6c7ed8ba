import Foundation
import NIOCore
import NIOPosix

/// The local control channel between `threads` and the `threadsd` serving the same repo, until the
/// HTTP API replaces it.
///
/// A Unix domain socket `<repo>/threadsd.sock` (mode 0600: only the repo's owner can use it), whose
/// path the daemon records in `<repo>/control.json` while it runs. One JSON object per line each
/// way: a request `{"command": "...", ...}` and a reply `{"ok": true, "result": …}` or
/// `{"ok": false, "error": "..."}`.
public enum ControlChannel {
    public static func socketPath(repo: String) -> String { repo + "/threadsd.sock" }
    public static func recordPath(repo: String) -> String { repo + "/control.json" }

    /// Handles one request and returns the reply object. Long operations may first send progress
    /// objects through the `Progress` callback; each goes out as its own `{"progress": …}` line.
    public typealias Handler = @Sendable ([String: Any], @escaping Progress) async -> [String: Any]

    /// Sends one progress line to the client of the current request; false once the client is
    /// gone (so a stream of lines, like a listener's, can stop).
    public typealias Progress = @Sendable ([String: Any]) async -> Bool

    /// Binds the control socket and records it; `run` then answers requests until the returned
    /// channel is closed.
    public static func serve(repo: String) async throws -> NIOAsyncChannel<
        NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never
    > {
        let path = socketPath(repo: repo)
        unlink(path)  // a socket left by a daemon that was killed
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        chmod(path, 0o600)
        let record = try JSONSerialization.data(
            withJSONObject: ["socket": path, "pid": Int(getpid())],
            options: [.sortedKeys]
        )
        try record.write(to: URL(fileURLWithPath: recordPath(repo: repo)), options: .atomic)
        return server
    }

    /// Runs the accept loop of a server made by `serve`.
    public static func run(
        _ server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>,
        handler: @escaping Handler
    ) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask {
                        try? await connection.executeThenClose { input, output in
                            var buffer = ByteBuffer()
                            for try await chunk in input {
                                buffer.writeImmutableBuffer(chunk)
                                while let newline = buffer.readableBytesView.firstIndex(of: 0x0a) {
                                    let line = buffer.readSlice(length: newline - buffer.readerIndex + 1)!
                                    let reply: [String: Any]
                                    if let object = try? JSONSerialization.jsonObject(
                                        with: Data(line.readableBytesView)
                                    ) as? [String: Any] {
                                        reply = await handler(object) { progress in
                                            guard
                                                var data = try? JSONSerialization.data(
                                                    withJSONObject: ["progress": progress],
                                                    options: [.sortedKeys]
                                                )
                                            else { return false }
                                            data.append(0x0a)
                                            do {
                                                try await output.write(ByteBuffer(bytes: data))
                                                return true
                                            } catch {
                                                return false
                                            }
                                        }
                                    } else {
                                        reply = ["ok": false, "error": "the request is not a JSON object"]
                                    }
                                    var out = ByteBuffer(
                                        bytes: try JSONSerialization.data(withJSONObject: reply, options: [.sortedKeys])
                                    )
                                    out.writeInteger(UInt8(0x0a))
                                    try await output.write(out)
                                }
                                if buffer.readableBytes > 1 << 20 { return }  // no line is that long
                            }
                        }
                    }
                }
            }
        }
    }

    /// Removes the record and the socket (at shutdown).
    public static func remove(repo: String) {
        unlink(recordPath(repo: repo))
        unlink(socketPath(repo: repo))
    }

    public enum ClientError: Error, CustomStringConvertible {
        case notRunning(repo: String)
        case failed(String)

        public var description: String {
            switch self {
            case .notRunning(let repo):
                return "no threadsd is running for the repo at \(repo) (start one with `threadsd --repo \(repo)`)"
            case .failed(let message):
                return message
            }
        }
    }

    /// Sends one request to the daemon serving `repo` and returns its `result`; progress lines
    /// sent before the reply go to `progress`.
    public static func call(
        repo: String,
        _ request: [String: Any],
        progress: @escaping @Sendable ([String: Any]) -> Void = { _ in }
    ) async throws -> Any {
        guard let data = FileManager.default.contents(atPath: recordPath(repo: repo)),
            let record = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let path = record["socket"] as? String
        else { throw ClientError.notRunning(repo: repo) }
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ClientError.notRunning(repo: repo)
        }
        var line = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: request))
        line.writeInteger(UInt8(0x0a))
        let replyData: Data = try await channel.executeThenClose { input, output in
            try await output.write(line)
            var buffer = ByteBuffer()
            for try await chunk in input {
                buffer.writeImmutableBuffer(chunk)
                while let newline = buffer.readableBytesView.firstIndex(of: 0x0a) {
                    let line = Data(buffer.readSlice(length: newline - buffer.readerIndex + 1)!.readableBytesView)
                    if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
                        let update = object["progress"] as? [String: Any]
                    {
                        progress(update)
                        continue
                    }
                    return line
                }
                buffer.discardReadBytes()
            }
            return Data(buffer.readableBytesView)
        }
        guard let reply = try? JSONSerialization.jsonObject(with: replyData) as? [String: Any] else {
            throw ClientError.failed("the daemon sent an unreadable reply")
        }
        guard reply["ok"] as? Bool == true else {
            throw ClientError.failed(reply["error"] as? String ?? "the daemon refused the request")
        }
        return reply["result"] ?? NSNull()
    }
}
