import Foundation
import ThreadsTestKit

/// Runs the built `threads` executable as a user would and captures what it prints.
struct CLIRunner {
    struct Result {
        let status: Int32
        let crashed: Bool
        let stdout: String
        let stderr: String
        let stdoutBytes: [UInt8]
    }

    /// The `threads` binary sits next to the test bundle in SwiftPM's bin directory.
    static let executable: URL = {
        let selfPath =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: selfPath).deletingLastPathComponent()
        // On macOS the test binary lives inside an .xctest bundle three levels down.
        for _ in 0..<4 where !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("threads").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("threads")
    }()

    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
    }

    /// Runs the command on a Dispatch thread, so waiting for it never blocks the Swift concurrency
    /// pool that the networking tests running alongside depend on.
    static func run(_ arguments: [String], stdin: [UInt8] = [], environment: [String: String] = [:]) async throws
        -> Result
    {
        try await TestKit.offPool { try runBlocking(arguments, stdin: stdin, environment: environment) }
    }

    /// How long a command may run before it is killed and the test fails: far beyond any command
    /// here, so only a hang reaches it, and then the run goes on rather than waiting for good.
    static let commandLimit: Duration = .seconds(180)

    static func runBlocking(_ arguments: [String], stdin: [UInt8] = [], environment: [String: String] = [:]) throws
        -> Result
    {
        // A command that exits before reading all of stdin must fail the write, not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let input = TestKit.pipe()
        let output = TestKit.pipe()
        let errors = TestKit.pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        // Feed stdin and drain both outputs on other threads so a large output cannot deadlock
        // the pipes.
        let done = DispatchGroup()
        let outBox = DataBox()
        let errBox = DataBox()
        DispatchQueue.global().async(group: done) {
            try? input.fileHandleForWriting.write(contentsOf: Data(stdin))
            try? input.fileHandleForWriting.close()
        }
        DispatchQueue.global().async(group: done) { outBox.data = TestKit.drain(output, whileRunning: process) }
        DispatchQueue.global().async(group: done) { errBox.data = TestKit.drain(errors, whileRunning: process) }
        let seconds = Double(commandLimit.components.seconds)
        let timedOut = exited.wait(timeout: .now() + seconds) == .timedOut
        if timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        }
        done.wait()
        if timedOut {
            throw CLIRunnerError.timedOut(arguments, stdout: String(decoding: outBox.data, as: UTF8.self))
        }
        return Result(
            status: process.terminationStatus,
            crashed: process.terminationReason == .uncaughtSignal,
            stdout: String(decoding: outBox.data, as: UTF8.self),
            stderr: String(decoding: errBox.data, as: UTF8.self),
            stdoutBytes: [UInt8](outBox.data)
        )
    }

}

private final class DataBox: @unchecked Sendable {
    var data = Data()
}

extension CLIRunner.Result {
    /// The parsed JSON object printed on stdout.
    func json() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
        guard let dict = object as? [String: Any] else { throw CLIRunnerError.notAnObject(stdout) }
        return dict
    }

    var trimmedStdout: String {
        stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

enum CLIRunnerError: Error, CustomStringConvertible {
    case notAnObject(String)
    case timedOut([String], stdout: String)

    var description: String {
        switch self {
        case .notAnObject(let text): "not a JSON object: \(text)"
        case .timedOut(let arguments, let stdout):
            "threads \(arguments.joined(separator: " ")) ran past \(CLIRunner.commandLimit) and was killed; it printed: \(stdout)"
        }
    }
}
