import Foundation
import Testing
import ThreadsTestKit

/// `threads shell` driven by a script on standard input (the non-terminal path of the same shell).
@Suite(.timeLimit(.minutes(5))) struct ShellTests {
    @Test func aScriptedSessionCoversTheCommandsAndTheirErrors() async throws {
        let daemon = DaemonTests.Daemon()
        try await TestKit.offPool { try daemon.start() }
        let created = try (try await CLIRunner.run(["thread", "create", "--repo", daemon.repo])).json()
        let thread = try #require(created["id"] as? String)
        let collection = try await CLIRunner.run(
            [
                "db", "collection", "create", thread, "people", "--index", "age", "--repo", daemon.repo,
                "--schema", #"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}"#,
            ]
        )
        #expect(collection.status == 0, "\(collection.stderr)")
        let script = """
            help
            collections
            frobnicate
            use \(thread)
            threads
            modelCreate people {"_id": "ann", "name": "Ann", "age": 31}
            create people {"_id": "bob", "name": "Bob", "age": 25}
            modelCreate people {"name": 5}
            modelCreate people {"name": 
            modelFindById people ann
            modelSave people {"_id": "ann", "name": "Ann", "age": 32}
            findById people ann
            modelFind people {"age": {"$gt": 30}}
            find people {"filter": {}, "sort": ["-age"], "limit": 1}
            find nope {}
            modelDelete people bob
            find people
            peers
            exit
            modelFind people
            """
        let result = try await CLIRunner.run(["shell", "--repo", daemon.repo], stdin: Array((script + "\n").utf8))
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        #expect(out.hasPrefix("Successfully connected.\n>>> "), "\(out)")
        #expect(out.contains("modelFindById <collection> <id>"))
        #expect(out.contains("Error: no thread selected: use <thread id> first"))
        #expect(out.contains("Unknown command 'frobnicate'. Type help for the list of commands."))
        #expect(out.contains("Switched to \(thread)"))
        #expect(out.contains("\"ann\""))
        #expect(out.contains("Error: instance does not match the schema of people at $.name"))
        #expect(out.contains("Error: malformed JSON at line 1"))
        #expect(out.contains("\"age\": 32"), "\(out)")
        #expect(out.contains("Error: no collection named nope"))
        // After the delete only Ann is left; `exit` ends the session before the last line.
        let finds = out.components(separatedBy: ">>> ").filter { $0.contains("\"name\"") }
        #expect(finds.last?.contains("Bob") == false, "\(out)")
        #expect(out.components(separatedBy: ">>> ").count == 20, "\(out)")
    }

    @Test func listenPrintsRemoteChangesUntilEnter() async throws {
        let daemon = DaemonTests.Daemon()
        try await TestKit.offPool { try daemon.start() }
        let created = try (try await CLIRunner.run(["thread", "create", "--repo", daemon.repo])).json()
        let thread = try #require(created["id"] as? String)
        _ = try await CLIRunner.run(["db", "collection", "create", thread, "notes", "--repo", daemon.repo])
        let shell = Process()
        shell.executableURL = CLIRunner.executable
        shell.arguments = ["shell", "--repo", daemon.repo]
        let input = TestKit.pipe()
        let output = TestKit.pipe()
        shell.standardInput = input
        shell.standardOutput = output
        shell.standardError = FileHandle.nullDevice
        try shell.run()
        defer { if shell.isRunning { shell.terminate() } }
        input.fileHandleForWriting.write(Data("use \(thread)\nlisten\n".utf8))
        let seen = TextBox()
        // Read on a Dispatch thread: a blocking read on the concurrency pool holds one of its
        // (on two cores, two) threads for the whole test.
        DispatchQueue.global().async {
            while case let chunk = output.fileHandleForReading.availableData, !chunk.isEmpty {
                seen.append(String(decoding: chunk, as: UTF8.self))
                if !shell.isRunning { break }
            }
        }
        #expect(await ThreadCommandTests.eventuallyTrue { seen.text.contains("Listening for changes") })
        let write = try await CLIRunner.run(
            ["db", "create", thread, "notes", #"{"_id": "n1", "text": "hello"}"#, "--repo", daemon.repo]
        )
        #expect(write.status == 0)
        #expect(await ThreadCommandTests.eventuallyTrue { seen.text.contains("\"instanceID\": \"n1\"") })
        // Enter stops listening; the shell goes on.
        input.fileHandleForWriting.write(Data("\nexit\n".utf8))
        #expect(await TestKit.offPool { TestKit.waitForExit(shell) })
        #expect(shell.terminationStatus == 0)
    }
}

final class TextBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""

    var text: String { lock.withLock { value } }

    func append(_ more: String) { lock.withLock { value += more } }
}
