import ArgumentParser
import Foundation
import Node

/// `threads dht …`: peer routing and provider records through the running daemon's DHT.
struct DHTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dht",
        abstract: "Find peers and providers in the DHT (needs a running threadsd for the repo).",
        subcommands: [FindPeer.self, Provide.self, Providers.self, Table.self]
    )

    struct FindPeer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "find-peer",
            abstract: "Print a peer's current multiaddrs, one per line, from its signed peer record."
        )

        @OptionGroup var repoOptions: RepoOptions

        @Argument(help: "The peer ID.")
        var peer: String

        func run() async throws {
            let result = try await SwarmCommand.call(repoOptions, ["command": "dht.find-peer", "peer": peer])
            let addresses = ((result as? [String: Any])?["addresses"] as? [String]) ?? []
            let owner = (result as? [String: Any])?["peerID"] as? String ?? peer
            for address in addresses { print("\(address)/p2p/\(owner)") }
        }
    }

    struct Provide: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Announce that this node provides a CID (republished every 22 h while the node runs)."
        )

        @OptionGroup var repoOptions: RepoOptions

        @Argument(help: "The CID to announce.")
        var cid: String

        func run() async throws {
            let result = try await SwarmCommand.call(repoOptions, ["command": "dht.provide", "cid": cid])
            let stored = ((result as? [String: Any])?["stored"] as? Int) ?? 0
            print("announced \(cid) to \(stored) DHT node\(stored == 1 ? "" : "s")")
            if stored == 0 {
                FileHandle.standardError.write(
                    Data("warning: no DHT node stored the record (is the node bootstrapped?)\n".utf8)
                )
            }
        }
    }

    struct Providers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List providers of a CID as JSON: [{peerID, addresses, issued}]."
        )

        @OptionGroup var repoOptions: RepoOptions

        @Argument(help: "The CID to look up.")
        var cid: String

        @Option(help: "Stop after this many providers.")
        var count: Int = 20

        func validate() throws {
            guard count > 0 else { throw ValidationError("--count must be positive") }
        }

        func run() async throws {
            let result = try await SwarmCommand.call(
                repoOptions,
                ["command": "dht.providers", "cid": cid, "count": count]
            )
            let items: [JSONOutput] = ((result as? [[String: Any]]) ?? []).map { record in
                .object([
                    ("peerID", .string(record["peerID"] as? String ?? "")),
                    ("addresses", .array(((record["addresses"] as? [String]) ?? []).map(JSONOutput.string))),
                    ("issued", .uint((record["issued"] as? NSNumber)?.uint64Value ?? 0)),
                ])
            }
            print(JSONOutput.array(items).pretty)
        }
    }

    struct Table: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the routing table's bucket fill and record counts as JSON."
        )

        @OptionGroup var repoOptions: RepoOptions

        func run() async throws {
            let result = try await SwarmCommand.call(repoOptions, ["command": "dht.table"])
            guard let table = result as? [String: Any] else { throw CLIError("the daemon sent no table") }
            func int(_ key: String) -> JSONOutput { .int(Int64((table[key] as? Int) ?? 0)) }
            let buckets: [JSONOutput] = ((table["buckets"] as? [[String: Any]]) ?? []).map { bucket in
                .object([
                    ("index", .int(Int64(bucket["index"] as? Int ?? 0))),
                    ("size", .int(Int64(bucket["size"] as? Int ?? 0))),
                    ("replacements", .int(Int64(bucket["replacements"] as? Int ?? 0))),
                ])
            }
            let dropped = ((table["dropped"] as? [String: Int]) ?? [:]).sorted { $0.key < $1.key }
            print(
                JSONOutput.object([
                    ("peerID", .string(table["peerID"] as? String ?? "")),
                    ("address", .string(table["address"] as? String ?? "")),
                    ("size", int("size")),
                    ("buckets", .array(buckets)),
                    ("providerRecords", int("providerRecords")),
                    ("peerRecords", int("peerRecords")),
                    ("provided", int("provided")),
                    ("dropped", .object(dropped.map { ($0.key, .int(Int64($0.value))) })),
                ]).pretty
            )
        }
    }
}
