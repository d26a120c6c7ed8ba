import Foundation

/// This process's CPU time (user and system, all threads), to print how busy the cores were during
/// a benchmark: a figure bound by the CPU shows it next to its rate, in the same run.
struct CPUTime {
    let seconds: Double

    #if os(Linux)
        static var now: CPUTime { usage(of: __rusage_who_t(RUSAGE_SELF.rawValue)) }
        /// The CPU time of this process's children that have ended and been waited for (a
        /// benchmark that runs its baseline as child processes).
        static var children: CPUTime { usage(of: __rusage_who_t(RUSAGE_CHILDREN.rawValue)) }
        private typealias Who = __rusage_who_t
    #else
        static var now: CPUTime { usage(of: RUSAGE_SELF) }
        static var children: CPUTime { usage(of: RUSAGE_CHILDREN) }
        private typealias Who = Int32
    #endif

    private static func usage(of who: Who) -> CPUTime {
        var usage = rusage()
        getrusage(who, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return CPUTime(seconds: seconds(usage.ru_utime) + seconds(usage.ru_stime))
    }

    /// The CPU seconds spent since `start`.
    func seconds(since start: CPUTime) -> Double { seconds - start.seconds }

    /// The cores kept busy on average since `start`, over `wall` seconds.
    func cores(since start: CPUTime, wall: Double) -> Double {
        wall > 0 ? seconds(since: start) / wall : 0
    }
}
