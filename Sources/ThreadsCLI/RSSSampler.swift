import Foundation

/// Samples a process's resident memory every 20 ms: the peak of its anonymous memory (heap,
/// stacks: what it needs) and of its whole RSS (which also counts pages of files it maps, such
/// as LevelDB's table files, that the kernel can drop at any time).
final class RSSSampler: Sendable {
    private let task: Task<(UInt64, UInt64), Never>

    init(pid: Int) {
        task = Task {
            var peak: (UInt64, UInt64) = (0, 0)
            while !Task.isCancelled {
                let now = RSSSampler.current(pid: pid)
                peak.0 = max(peak.0, now.anonymous)
                peak.1 = max(peak.1, now.total)
                try? await Task.sleep(for: .milliseconds(20))
            }
            return peak
        }
    }

    /// The process's anonymous and total resident memory now, in bytes (0 when unreadable).
    static func current(pid: Int) -> (anonymous: UInt64, total: UInt64) {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else {
            return (0, 0)
        }
        func field(_ name: String) -> UInt64 {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name) }),
                let kib = UInt64(line.split(separator: " ").dropFirst().first ?? "")
            else { return 0 }
            return kib * 1024
        }
        return (field("RssAnon:"), field("VmRSS:"))
    }

    func stop() async -> (UInt64, UInt64) {
        task.cancel()
        return await task.value
    }
}
