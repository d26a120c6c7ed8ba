import ArgumentParser
import Foundation
import Node

/// `threads thread …`: threads on the running daemon (JSON out).
struct ThreadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thread",
        abstract: "Create, share, join and inspect threads (needs a running threadsd for the repo).",
        subcommands: [
            Create.self, List.self, Info.self, Members.self, Invite.self, Join.self, Revoke.self, Forget.self,
            Delete.self,
            AddRecord.self,
            Records.self,
        ]
    )

    static func call(_ options: RepoOptions, _ request: [String: Any]) async throws -> Any {
        try await SwarmCommand.call(options, request)
    }

    /// Prints an API answer indented, keys sorted, in the layout of the other commands' output
    /// (Foundation's pretty printer on Linux writes `"key" : value`).
    static func printJSON(_ value: Any) throws {
        let data = try JSONSerialization.data(
            withJSONObject: value,
            options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]
        )
        print(JSONOutput.indented(compact: String(decoding: data, as: UTF8.self)))
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a thread; prints {id, log, variant}.")
        @OptionGroup var repoOptions: RepoOptions
        @Flag(help: "A raw thread (variant 0x55) instead of an access-controlled one.")
        var raw = false

        func run() async throws {
            try ThreadCommand.printJSON(
                try await ThreadCommand.call(repoOptions, ["command": "thread.create", "raw": raw])
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the threads this node holds (JSON array of IDs)."
        )
        @OptionGroup var repoOptions: RepoOptions

        func run() async throws {
            try ThreadCommand.printJSON(try await ThreadCommand.call(repoOptions, ["command": "thread.list"]))
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A thread's logs, heads and members as JSON.")
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Thread ID.") var id: String

        func run() async throws {
            try ThreadCommand.printJSON(
                try await ThreadCommand.call(repoOptions, ["command": "thread.info", "id": id])
            )
        }
    }

    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The peers this node replicates a thread with, and every log's role: {peers, logs}."
        )
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Thread ID.") var id: String

        func run() async throws {
            try ThreadCommand.printJSON(
                try await ThreadCommand.call(repoOptions, ["command": "thread.members", "id": id])
            )
        }
    }

    struct Invite: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an invite: this node's multiaddr, /thread/<id>, and the keys of the role.",
            discussion: "The invite carries secret keys: share it only with whom you invite."
        )
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Thread ID.") var id: String
        @Option(
            help:
                "writer (reads and writes), reader (reads; its writes are refused) or replica (stores ciphertext, cannot read)."
        )
        var role: String = "writer"

        func run() async throws {
            let invite = try await ThreadCommand.call(
                repoOptions,
                ["command": "thread.invite", "id": id, "role": role]
            )
            print(invite as? String ?? "")
        }
    }

    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join a thread from an invite: connect to the inviter, fetch the thread, replicate."
        )
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "The invite string.") var invite: String

        func run() async throws {
            try ThreadCommand.printJSON(
                try await ThreadCommand.call(repoOptions, ["command": "thread.join", "invite": invite])
            )
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Revoke a member's log (owner only): its records are refused from now on, and a new read key, sealed to every remaining member, keeps it from reading what is written next."
        )
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Thread ID.") var id: String
        @Argument(help: "The member's log ID (from `threads thread members`).") var log: String

        func run() async throws {
            try ThreadCommand.printJSON(
                try await ThreadCommand.call(repoOptions, ["command": "thread.revoke", "id": id, "log": log])
            )
        }
    }

    struct Forget: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Stop replicating a thread with a member peer (a node gone for good): it is no longer dialled or pushed to. Its logs and records stay; it becomes a member again if it comes back with the thread's keys (revoke its log to keep it from reading)."
        )
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Thread ID.") var id: String
        @Argument(help: "The member's peer ID (from `threads thread members`).") var peer: String

        func run() async throws {
            try ThreadCommand.printJSON(
                try await ThreadCommand.call(repoOptions, ["command": "thread.forget", "id": id, "peer": peer])
            )
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a thread from this node: its keys, logs and every block of its records."
        )
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Thread ID.") var id: String

        func run() async throws {
            try ThreadCommand.printJSON(
                try await ThreadCommand.call(repoOptions, ["command": "thread.delete", "id": id])
            )
        }
    }

    struct AddRecord: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-record",
            abstract: "Append a JSON value from standard input to this node's log (raw event access, for debugging)."
        )
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Thread ID.") var id: String

        func run() async throws {
            let input = FileHandle.standardInput.readDataToEndOfFile()
            let body = String(decoding: input, as: UTF8.self)
            try ThreadCommand.printJSON(
                try await ThreadCommand.call(repoOptions, ["command": "thread.add-record", "id": id, "body": body])
            )
        }
    }

    struct Records: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every record of a thread as JSON: log, seq, cid, and (with the read key) time, clock, body."
        )
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Thread ID.") var id: String

        func run() async throws {
            try ThreadCommand.printJSON(
                try await ThreadCommand.call(repoOptions, ["command": "thread.records", "id": id])
            )
        }
    }
}
