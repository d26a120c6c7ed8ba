import ArgumentParser
import Foundation

/// The `threads` command-line tool: offline codecs and inspection today, the node's client as the
/// daemon grows.
@main
struct Threads: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threads",
        abstract: "swift-threads: a peer-to-peer, end-to-end encrypted document database.",
        version: ThreadsVersion.string,
        subcommands: [
            InitCommand.self,
            IdCommand.self,
            BlockCommand.self,
            SwarmCommand.self,
            DHTCommand.self,
            ThreadCommand.self,
            DBCommand.self,
            ShellCommand.self,
            AddCommand.self,
            GetCommand.self,
            CatCommand.self,
            CIDCommand.self,
            MultiaddrCommand.self,
            DagCommand.self,
            BenchCommand.self,
            DebugCommand.self,
        ]
    )

    /// Bare `threads`: the shell on a terminal (for the default repo), the help otherwise.
    func run() async throws {
        guard isatty(STDIN_FILENO) == 1 else {
            print(Threads.helpMessage())
            return
        }
        let shell = try ShellCommand.parse([])
        try await shell.run()
    }
}

enum ThreadsVersion {
    static let string = "0.1.0"
}
