import ArgumentParser
import Foundation
import Multiformats
import Node

/// `threads id`: the node's identity as JSON.
struct IdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "id",
        abstract: "Print the node's peer ID, public key and addresses as JSON.",
        discussion: "publicKey is the base64 of the libp2p protobuf public key; addresses end in /p2p/<peer ID>."
    )

    @OptionGroup var repoOptions: RepoOptions

    func run() async throws {
        if repoOptions.daemonRunning {
            // The running daemon knows the addresses it is bound to (ports picked at start).
            let answer = try await SwarmCommand.call(repoOptions, ["command": "node.id"]) as? [String: Any] ?? [:]
            print(
                JSONOutput.object([
                    ("peerID", .string(answer["peerID"] as? String ?? "")),
                    ("publicKey", .string(answer["publicKey"] as? String ?? "")),
                    ("addresses", .array((answer["addresses"] as? [String] ?? []).map(JSONOutput.string))),
                ]).pretty
            )
            return
        }
        let repo = try repoOptions.open()
        let peer = repo.peerID
        let addresses = repo.config.listen.map { addr -> JSONOutput in
            .string(addr.peerID == nil ? addr.description + "/p2p/\(peer)" : addr.description)
        }
        print(
            JSONOutput.object([
                ("peerID", .string(peer.description)),
                ("publicKey", .string(Data(repo.identity.publicKey.protobufBytes).base64EncodedString())),
                ("addresses", .array(addresses)),
            ]).pretty
        )
    }
}
