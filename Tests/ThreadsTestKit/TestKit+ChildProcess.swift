import Foundation

#if canImport(Glibc)
    import Glibc
#endif

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

    /// Reads `pipe` to its end, or, once `process` has exited, to what it holds: everything that
    /// process wrote, even if another process keeps the pipe open.
    public static func drain(_ pipe: Pipe, whileRunning process: Process) -> Data {
        let fd = pipe.fileHandleForReading.fileDescriptor
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            var polled = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let running = process.isRunning
            let ready = poll(&polled, 1, running ? 100 : 0)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 {
                if running { continue } else { break }
            }
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            data.append(contentsOf: chunk[..<count])
        }
        return data
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
