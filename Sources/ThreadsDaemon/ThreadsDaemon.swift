#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

/// `threadsd`: the swift-threads node daemon.
@main
struct ThreadsDaemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threadsd",
        abstract: "The swift-threads node daemon.",
        version: DaemonVersion.string
    )

    @Option(help: "Repo directory (default: $THREADS_REPO or ~/.threads).")
    var repo: String?

    func run() throws {
        print("threadsd \(DaemonVersion.string)")
        print("repo: \(RepoLocation.resolve(repo))")
        print("")
        print(ThreadsDaemon.helpMessage())
    }
}

enum DaemonVersion {
    static let string = "0.1.0"
}

/// Where a node keeps its repo, in order of precedence: the flag, `$THREADS_REPO`, `~/.threads`.
enum RepoLocation {
    static func resolve(_ flag: String?) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let env = getenvString("THREADS_REPO"), !env.isEmpty { return env }
        return (getenvString("HOME") ?? ".") + "/.threads"
    }
}

func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}
