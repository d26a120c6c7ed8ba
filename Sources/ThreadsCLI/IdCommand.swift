import ArgumentParser
import Foundation
import Multiformats
import Node

/// `threads id`: the node's identity as JSON.
struct IdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "id",
        abstract: "Print the node's peer ID, public key and addresses as JSON.",
        discussion: "publicKey is the base64 of the libp2p protobuf public key; addresses end in /p2p/<peer ID>."
    )

    @OptionGroup var repoOptions: RepoOptions

    func run() throws {
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
