import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive advisory lock on `<repo>/repo.lock`, held for as long as the repo is open.
///
/// `flock` locks belong to the open file description, so a second open in the same process is
/// refused too, and the kernel drops the lock when the process dies (even by SIGKILL), so a crashed
/// node never leaves a stale lock behind.
final class RepoLock: Sendable {
    private let fd: Int32
    let path: String

    init(path: String) throws(RepoError) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            let holder = RepoLock.readHolder(fd)
            close(fd)
            if code == EWOULDBLOCK {
                throw .locked(path: String(path.dropLast("/repo.lock".count)), holder: holder)
            }
            throw .io(path: path, operation: "flock", errno: code)
        }
        // Record who holds the lock, for the error another process will print.
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    /// Whether a process holds the lock of the repo at `repo` now (tested without taking it).
    static func isHeld(repo: String) -> Bool {
        let fd = open(repo + "/repo.lock", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return errno == EWOULDBLOCK }
        flock(fd, LOCK_UN)
        return false
    }

    private static func readHolder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
