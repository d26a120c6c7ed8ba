import Foundation

/// Child processes in tests that run alongside each other.
///
/// Foundation's `Process` on Linux closes the parent's other descriptors in the child from a list
/// it takes just before spawning, so a pipe another test creates at that moment is inherited by
/// this child. A reader that waits for the end of such a pipe then waits for an unrelated process
/// (a daemon another test stops much later) and blocks whatever thread it runs on. On a 2-core
/// machine the concurrency pool has two threads: two such reads on it stop every async test, and
/// with them the tests that would end the wait. So pipes here are close-on-exec, outputs are read
/// until the process exits rather than to the end of the pipe, and waiting happens on Dispatch
/// threads.
extension TestKit {
    /// A pipe whose descriptors are not inherited by processes other tests spawn (the child it
    /// is given to gets its end as stdin, stdout or stderr all the same).
    public static func pipe() -> Pipe {
        let pipe = Pipe()
        for fd in [pipe.fileHandleForReading.fileDescriptor, pipe.fileHandleForWriting.fileDescriptor] {
            _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
        }
        return pipe
    }

    /// What one `read(_:waiting:)` found.
    public enum PipeRead {
        case bytes([UInt8])
        /// Nothing arrived in the time given.
        case nothing
        /// The pipe ended (or failed).
        case end
    }

    /// Reads what `pipe` holds, waiting up to `milliseconds` for something to arrive.
    public static func read(_ pipe: Pipe, waiting milliseconds: Int32) -> PipeRead {
        let fd = pipe.fileHandleForReading.fileDescriptor
        while true {
            var polled = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&polled, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { return .end }
            if ready == 0 { return .nothing }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = Foundation.read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            return count > 0 ? .bytes(Array(chunk[..<count])) : .end
        }
    }

    /// Reads `pipe` to its end, or, once `process` has exited, to what it holds: everything that
    /// process wrote, even if another process keeps the pipe open.
    public static func drain(_ pipe: Pipe, whileRunning process: Process) -> Data {
        var data = Data()
        while true {
            let running = process.isRunning
            switch read(pipe, waiting: running ? 100 : 0) {
            case .bytes(let bytes): data.append(contentsOf: bytes)
            case .nothing where running: continue
            case .nothing, .end: return data
            }
        }
    }

    /// Waits up to `limit` for `process` to exit, then kills it. Returns whether it exited by
    /// itself.
    @discardableResult
    public static func waitForExit(_ process: Process, limit: Duration = .seconds(120)) -> Bool {
        let deadline = ContinuousClock.now + limit
        while process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        guard process.isRunning else { return true }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return false
    }

    /// Runs `body` on a Dispatch thread and waits for it without holding a thread of the
    /// concurrency pool.
    public static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// `offPool` for work that cannot fail.
    public static func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: body()) }
        }
    }
}
