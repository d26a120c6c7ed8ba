import ArgumentParser
import Foundation
import Node
import ThreadsAPI
import ThreadsDB

/// `threads db …`: collections and instances of a thread on the running daemon (JSON in and out).
struct DBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Collections, instances, queries and changes of a thread's database (needs a running threadsd).",
        subcommands: [
            CollectionCommand.self, Create.self, Save.self, Delete.self, Get.self, Has.self, Find.self, Write.self,
            Digest.self, Listen.self,
        ]
    )

    /// Where an instance command works: the repo, the output form, the thread and the collection.
    struct InCollection: ParsableArguments {
        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: Output
        @Argument(help: "Thread ID.") var thread: String
        @Argument(help: "Collection name.") var collection: String

        /// Sends `command` for this thread and collection, with `fields`, and prints the answer.
        func run(_ command: String, _ fields: [String: Any]) async throws {
            let base: [String: Any] = ["command": command, "id": thread, "collection": collection]
            try await DBCommand.run(repoOptions, output, base.merging(fields) { _, new in new })
        }
    }

    /// Output options shared by the commands that print JSON.
    struct Output: ParsableArguments {
        @Flag(help: "Print JSON on one line instead of indented.") var compact = false

        func print(_ text: String) throws {
            let value = try JSON(parsing: text)
            Swift.print(compact ? value.serialized : value.pretty)
        }
    }

    /// Sends a `db.*` request and prints its JSON result.
    static func run(_ options: RepoOptions, _ output: Output, _ request: [String: Any]) async throws {
        let context: APIContext
        do { context = try APIContext.resolve(options) } catch { throw CLIError("\(error)") }
        let body = try await context.callRaw(request["command"] as? String ?? "", request)
        try output.print(String(decoding: body, as: UTF8.self))
    }

    /// JSON given on the command line: the text itself, `-` for standard input, `@path` for a file.
    /// Checked here so a typo gets its line and column before anything is sent.
    static func readJSON(_ argument: String, what: String) throws -> String {
        let text: String
        if argument == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else if argument.hasPrefix("@") {
            let path = String(argument.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CLIError("cannot read \(what) from \(path)")
            }
            text = String(decoding: data, as: UTF8.self)
        } else {
            text = argument
        }
        do { _ = try JSON(parsing: text) } catch { throw CLIError("\(what): \(error)") }
        return text
    }

    struct CollectionCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "collection",
            abstract: "Create, update and list a thread's collections (they replicate with the thread).",
            subcommands: [CreateCollection.self, UpdateCollection.self, ListCollections.self]
        )
    }

    struct CreateCollection: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a collection with a JSON Schema and secondary indexes."
        )
        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: Output
        @Argument(help: "Thread ID.") var thread: String
        @Argument(help: "Collection name (letters, digits, '-', '_').") var name: String
        @Option(help: "JSON Schema: a file path, - for standard input, or the JSON itself (default: any object).")
        var schema: String?
        @Option(name: .customLong("index"), help: "A field to index (dot path); repeat for more.")
        var indexes: [String] = []

        func run() async throws {
            let schemaText = try schema.map { try DBCommand.readSchema($0) } ?? #"{"type":"object"}"#
            try await DBCommand.run(
                repoOptions,
                output,
                [
                    "command": "db.collection.create", "id": thread, "collection": name, "schema": schemaText,
                    "indexes": indexes,
                ]
            )
        }
    }

    struct UpdateCollection: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "update",
            abstract: "Replace a collection's schema and index list (existing instances are not re-checked)."
        )
        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: Output
        @Argument(help: "Thread ID.") var thread: String
        @Argument(help: "Collection name.") var name: String
        @Option(help: "JSON Schema: a file path, - for standard input, or the JSON itself.") var schema: String
        @Option(name: .customLong("index"), help: "A field to index (dot path); repeat for more.")
        var indexes: [String] = []

        func run() async throws {
            try await DBCommand.run(
                repoOptions,
                output,
                [
                    "command": "db.collection.update", "id": thread, "collection": name,
                    "schema": try DBCommand.readSchema(schema), "indexes": indexes,
                ]
            )
        }
    }

    /// A schema option: inline JSON when it starts with `{`, else a file (or `-`).
    static func readSchema(_ argument: String) throws -> String {
        let trimmed = argument.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("{") || trimmed == "-" || trimmed.hasPrefix("@") || trimmed == "true" {
            return try readJSON(trimmed, what: "schema")
        }
        return try readJSON("@" + argument, what: "schema")
    }

    struct ListCollections: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "The thread's collections: [{name, schema, indexes}]."
        )
        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: Output
        @Argument(help: "Thread ID.") var thread: String

        func run() async throws {
            try await DBCommand.run(repoOptions, output, ["command": "db.collection.list", "id": thread])
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create instances (an object, or an array of objects, as one transaction); prints their _ids."
        )
        @OptionGroup var target: InCollection
        @Argument(help: "JSON, - for standard input, or @file.") var instance: String

        func run() async throws {
            try await target.run(
                "db.create",
                [
                    "instances": try DBCommand.readJSON(instance, what: "instance")
                ]
            )
        }
    }

    struct Save: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Save (replace) existing instances, found by their _id; only changed fields travel."
        )
        @OptionGroup var target: InCollection
        @Argument(help: "JSON with _id, - for standard input, or @file.") var instance: String

        func run() async throws {
            try await target.run(
                "db.save",
                [
                    "instances": try DBCommand.readJSON(instance, what: "instance")
                ]
            )
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete instances by _id (one transaction).")
        @OptionGroup var target: InCollection
        @Argument(help: "Instance _ids.") var ids: [String]

        func run() async throws {
            try await target.run(
                "db.delete",
                ["ids": ids]
            )
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the instance with this _id.")
        @OptionGroup var target: InCollection
        @Argument(help: "Instance _id.") var id: String

        func run() async throws {
            try await target.run(
                "db.get",
                ["instance": id]
            )
        }
    }

    struct Has: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print true when an instance with this _id exists.")
        @OptionGroup var target: InCollection
        @Argument(help: "Instance _id.") var id: String

        func run() async throws {
            try await target.run(
                "db.has",
                ["instance": id]
            )
        }
    }

    struct Find: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find instances with a Mongo-style filter, e.g. '{\"age\": {\"$gte\": 18}}' (see Specs/db.md)."
        )
        @OptionGroup var target: InCollection
        @Argument(help: "Filter JSON, - or @file (default: every instance).") var filter: String?
        @Option(help: "Sort fields, comma-separated; '-' before a field sorts it descending (e.g. age,-name).")
        var sort: String?
        @Option(help: "Skip this many results.") var skip: Int?
        @Option(help: "Return at most this many results.") var limit: Int?
        @Flag(help: "Also say how the query ran (index used, instances examined).") var explain = false

        func run() async throws {
            var query: [String: JSON] = [:]
            if let filter { query["filter"] = try JSON(parsing: try DBCommand.readJSON(filter, what: "filter")) }
            if let sort {
                query["sort"] = .array(sort.split(separator: ",").map { .string(String($0)) })
            }
            if let skip { query["skip"] = .number(Double(skip)) }
            if let limit { query["limit"] = .number(Double(limit)) }
            try await target.run(
                "db.find",
                [
                    "query": JSON.object(query).serialized, "explain": explain,
                ]
            )
        }
    }

    struct Write: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply a transaction: a JSON array of actions, all landing as one event or none.",
            discussion: """
                Actions: {"action": "create"|"save", "collection": C, "instance": {...}},
                {"action": "delete", "collection": C, "id": ID},
                {"action": "collection", "name": C, "schema": {...}, "indexes": [...], "update": false}.
                Prints the _ids of the created instances.
                """
        )
        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: Output
        @Argument(help: "Thread ID.") var thread: String
        @Argument(help: "Actions JSON, - or @file.") var actions: String

        func run() async throws {
            try await DBCommand.run(
                repoOptions,
                output,
                ["command": "db.write", "id": thread, "actions": try DBCommand.readJSON(actions, what: "actions")]
            )
        }
    }

    struct Digest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A hash of the thread's materialised state: equal on replicas that applied the same events."
        )
        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: Output
        @Argument(help: "Thread ID.") var thread: String

        func run() async throws {
            try await DBCommand.run(repoOptions, output, ["command": "db.digest", "id": thread])
        }
    }

    struct Listen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every change to the thread's collections, one JSON line each, until interrupted."
        )
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Thread ID.") var thread: String
        @Option(name: .customLong("collection"), help: "Only this collection; repeat for more.")
        var collections: [String] = []
        @Option(name: .customLong("action"), help: "Only this action (create, save, delete); repeat for more.")
        var actions: [String] = []
        @Option(name: .customLong("instance"), help: "Only this instance _id; repeat for more.")
        var instances: [String] = []
        @Flag(help: "Indent each change instead of one line per change.") var pretty = false

        func run() async throws {
            let pretty = self.pretty
            let context: APIContext
            do { context = try APIContext.resolve(repoOptions) } catch { throw CLIError("\(error)") }
            var query = collections.map { "collection=" + APIRoute.percentEncode($0) }
            query += actions.map { "action=" + APIRoute.percentEncode($0) }
            query += instances.map { "instance=" + APIRoute.percentEncode($0) }
            let target =
                API.route(for: "db.listen")!.path(with: ["id": thread])
                + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            let parser = SSEParserBox()
            let failure = FailureBox()
            try await context.client.stream(
                "GET",
                target,
                head: { status, _ in
                    if status == 200 {
                        FileHandle.standardError.write(Data("Listening for changes in \(thread)\n".utf8))
                    } else {
                        failure.status = status
                    }
                },
                chunk: { bytes in
                    if failure.status != nil {
                        failure.body += bytes
                        return
                    }
                    for event in parser.feed(bytes) where event.event == "change" {
                        guard let change = try? JSON(parsing: event.data) else { continue }
                        // Unbuffered, so a pipe sees each change as it happens.
                        FileHandle.standardOutput.write(
                            Data(((pretty ? change.pretty : change.serialized) + "\n").utf8)
                        )
                    }
                }
            )
            if let status = failure.status {
                try APIContext.check(HTTPClient.Response(status: status, headers: [], body: failure.body))
            }
        }
    }
}

/// The SSE parser of one stream, fed from the client's chunk callback.
final class SSEParserBox: @unchecked Sendable {
    private var parser = SSEParser()

    func feed(_ bytes: [UInt8]) -> [ServerSentEvent] { parser.feed(bytes) }
}

/// A failed streaming response's status and body.
final class FailureBox: @unchecked Sendable {
    var status: Int?
    var body: [UInt8] = []
}
