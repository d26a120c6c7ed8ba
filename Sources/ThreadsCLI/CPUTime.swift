import Foundation

/// This process's CPU time (user and system, all threads), to print how busy the cores were during
/// a benchmark: a figure bound by the CPU shows it next to its rate, in the same run.
struct CPUTime {
    let seconds: Double

    static var now: CPUTime {
        var usage = rusage()
        #if os(Linux)
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
            getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return CPUTime(seconds: seconds(usage.ru_utime) + seconds(usage.ru_stime))
    }

    /// The cores kept busy on average since `start`, over `wall` seconds.
    func cores(since start: CPUTime, wall: Double) -> Double {
        wall > 0 ? (seconds - start.seconds) / wall : 0
    }
}
