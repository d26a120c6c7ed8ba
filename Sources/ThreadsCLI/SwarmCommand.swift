import ArgumentParser
import Foundation
import Node

/// `threads swarm …`: the running daemon's connections to other peers.
struct SwarmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swarm",
        abstract: "Connect to peers and list connections (needs a running threadsd for the repo).",
        subcommands: [Connect.self, Peers.self]
    )

    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Connect the daemon to a peer.")

        @OptionGroup var repoOptions: RepoOptions

        @Argument(help: "The peer's multiaddr, ending in /p2p/<peer ID>.")
        var multiaddr: String

        func run() async throws {
            let result = try await SwarmCommand.call(repoOptions, ["command": "swarm.connect", "address": multiaddr])
            let peer = (result as? [String: Any])?["peerID"] as? String ?? "?"
            print("connected to \(peer)")
        }
    }

    struct Peers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List connected peers as JSON: [{peerID, address}]."
        )

        @OptionGroup var repoOptions: RepoOptions

        func run() async throws {
            let result = try await SwarmCommand.call(repoOptions, ["command": "swarm.peers"])
            let peers = (result as? [[String: Any]]) ?? []
            let items: [JSONOutput] = peers.map { peer in
                .object([
                    ("peerID", .string(peer["peerID"] as? String ?? "")),
                    ("address", (peer["address"] as? String).map(JSONOutput.string) ?? .null),
                ])
            }
            print(JSONOutput.array(items).pretty)
        }
    }

    /// Sends a command to the daemon through its API and returns the parsed JSON answer.
    static func call(_ options: RepoOptions, _ request: [String: Any]) async throws -> Any {
        guard let command = request["command"] as? String else { throw CLIError("no command") }
        let context: APIContext
        do { context = try APIContext.resolve(options) } catch { throw CLIError("\(error)") }
        return try await context.call(command, request)
    }

}
