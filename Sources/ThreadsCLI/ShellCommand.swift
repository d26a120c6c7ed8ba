import ArgumentParser
import Foundation
import ThreadsAPI
import ThreadsDB

/// `threads shell` (and bare `threads` on a terminal): an interactive session with the daemon.
struct ShellCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "An interactive shell on the daemon: pick a thread, query and change its collections, listen.",
        discussion:
            "Type `help` in the shell for its commands. Lines are edited in place; history is kept in <repo>/shell_history."
    )

    @OptionGroup var repoOptions: RepoOptions

    func run() async throws {
        let context: APIContext
        do { context = try APIContext.resolve(repoOptions) } catch { throw CLIError("\(error)") }
        do {
            _ = try await context.call("node.id", [:])
        } catch {
            throw CLIError("cannot connect to threadsd: \(error)")
        }
        print("Successfully connected.")
        let editor = LineEditor(historyFile: repoOptions.path + "/shell_history")
        var shell = Shell(context: context)
        while let line = editor.readLine(prompt: ">>> ") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            guard try await shell.execute(trimmed) else { break }
        }
    }
}

/// The shell's state and commands.
struct Shell {
    let context: APIContext
    var thread: String?

    static let help = """
        Commands:
          use <thread id>                          work on this thread
          threads                                  list the threads of this node
          collections                              list the collections of the thread
          modelCreate <collection> <json>          create an instance (or an array of them); alias: create
          modelSave <collection> <json>            save an instance (with its _id); alias: save
          modelDelete <collection> <id>            delete an instance; alias: delete
          modelFindById <collection> <id>          print one instance; alias: findById
          modelFind <collection> [query]           find instances: a filter like {"age": {"$gt": 30}}, or
                                                   {"filter": …, "sort": ["-age"], "skip": n, "limit": n}; alias: find
          listen                                   print every change to the thread until Enter
          peers                                    list connected peers
          help                                     this text
          exit                                     leave the shell
        """

    /// Runs one line; false to leave the shell. Errors are printed, never fatal.
    mutating func execute(_ line: String) async throws -> Bool {
        let parts = Self.split(line, limit: 3)
        let command = parts[0]
        let arguments = Array(parts.dropFirst())
        do {
            switch command {
            case "exit", "quit":
                return false
            case "help":
                print(Self.help)
            case "use":
                guard let id = arguments.first else { throw CLIError("usage: use <thread id>") }
                _ = try await context.call("thread.info", ["id": id])
                thread = id
                print("Switched to \(id)")
            case "threads":
                try printJSON(try await context.callRaw("thread.list", [:]))
            case "peers":
                try printJSON(try await context.callRaw("swarm.peers", [:]))
            case "collections":
                try printJSON(try await context.callRaw("db.collection.list", ["id": try selected()]))
            case "modelCreate", "create":
                let (collection, json) = try collectionAndJSON(arguments, usage: "modelCreate <collection> <json>")
                try printJSON(
                    try await context.callRaw(
                        "db.create",
                        ["id": try selected(), "collection": collection, "instances": json]
                    )
                )
            case "modelSave", "save":
                let (collection, json) = try collectionAndJSON(arguments, usage: "modelSave <collection> <json>")
                try printJSON(
                    try await context.callRaw(
                        "db.save",
                        ["id": try selected(), "collection": collection, "instances": json]
                    )
                )
            case "modelDelete", "delete":
                guard arguments.count == 2 else { throw CLIError("usage: modelDelete <collection> <id>") }
                try printJSON(
                    try await context.callRaw(
                        "db.delete",
                        ["id": try selected(), "collection": arguments[0], "ids": [arguments[1]]]
                    )
                )
            case "modelFindById", "findById":
                guard arguments.count == 2 else { throw CLIError("usage: modelFindById <collection> <id>") }
                try printJSON(
                    try await context.callRaw(
                        "db.get",
                        ["id": try selected(), "collection": arguments[0], "instance": arguments[1]]
                    )
                )
            case "modelFind", "find":
                guard let collection = arguments.first else {
                    throw CLIError("usage: modelFind <collection> [query JSON]")
                }
                let query = try arguments.count > 1 ? Self.query(arguments[1]) : "{}"
                try printJSON(
                    try await context.callRaw(
                        "db.find",
                        ["id": try selected(), "collection": collection, "query": query]
                    )
                )
            case "listen":
                try await listen(try selected())
            default:
                print("Unknown command '\(command)'. Type help for the list of commands.")
            }
        } catch {
            print("Error: \(error)")
        }
        return true
    }

    func selected() throws -> String {
        guard let thread else { throw CLIError("no thread selected: use <thread id> first") }
        return thread
    }

    func collectionAndJSON(_ arguments: [String], usage: String) throws -> (String, String) {
        guard arguments.count == 2 else { throw CLIError("usage: \(usage)") }
        do { _ = try JSON(parsing: arguments[1]) } catch { throw CLIError("\(error)") }
        return (arguments[0], arguments[1])
    }

    /// A query argument: a whole query object, or just a filter.
    static func query(_ text: String) throws -> String {
        let value: JSON
        do { value = try JSON(parsing: text) } catch { throw CLIError("\(error)") }
        guard case .object(let members) = value else { throw CLIError("a query is a JSON object") }
        let queryKeys: Set<String> = ["filter", "sort", "skip", "limit"]
        if !members.isEmpty, members.keys.allSatisfy(queryKeys.contains) { return text }
        return JSON.object(["filter": value]).serialized
    }

    func printJSON(_ bytes: [UInt8]) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        print((try? JSON(parsing: text))?.pretty ?? text)
    }

    /// Prints changes as they come until a line is entered.
    func listen(_ thread: String) async throws {
        let target = API.route(for: "db.listen")!.path(with: ["id": thread])
        let parser = SSEParserBox()
        let failure = FailureBox()
        let context = self.context
        let stream = Task {
            try await context.client.stream(
                "GET",
                target,
                head: { status, _ in
                    if status == 200 {
                        Shell.emit("Listening for changes (press Enter to stop)…")
                    } else {
                        failure.status = status
                    }
                },
                chunk: { bytes in
                    guard failure.status == nil else {
                        failure.body += bytes
                        return
                    }
                    for event in parser.feed(bytes) where event.event == "change" {
                        Shell.emit((try? JSON(parsing: event.data))?.pretty ?? event.data)
                    }
                }
            )
        }
        // Enter (or the end of input) stops listening. The read blocks a Dispatch thread, not one
        // of the few threads that run the stream's tasks.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                _ = readLine()
                done.resume()
            }
        }
        stream.cancel()
        _ = await stream.result
        if let status = failure.status {
            try APIContext.check(HTTPClient.Response(status: status, headers: [], body: failure.body))
        }
    }

    /// Writes a line straight to standard output. Not through stdio: while listening, another
    /// thread sits in `readLine` holding stdin's lock, which `fflush(NULL)` would wait for.
    static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Splits off at most `limit - 1` words; the last part is the rest of the line (JSON may
    /// contain spaces).
    static func split(_ line: String, limit: Int) -> [String] {
        var parts: [String] = []
        var rest = Substring(line)
        while parts.count < limit - 1 {
            rest = rest.drop { $0 == " " || $0 == "\t" }
            guard let end = rest.firstIndex(where: { $0 == " " || $0 == "\t" }) else { break }
            parts.append(String(rest[..<end]))
            rest = rest[end...]
        }
        let last = rest.trimmingCharacters(in: .whitespaces)
        if !last.isEmpty { parts.append(last) }
        return parts
    }
}
