import ArgumentParser
import Foundation
import Multiformats
import Node

/// `threadsd`: the swift-threads node daemon.
///
/// This version prepares the node's repo (creating it on first start), proves it can open it (the
/// repo lock, the identity key, the datastore) and prints the node's identity. The network services
/// (transport, DHT, exchange, replication, the HTTP API) are later milestones; until they exist the
/// daemon exits after start-up instead of pretending to serve.
@main
struct ThreadsDaemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threadsd",
        abstract: "The swift-threads node daemon.",
        discussion: """
            Creates the repo on first start (like `threads init`), opens it and prints the node's \
            identity and configured addresses. Network services arrive in later versions.
            """,
        version: DaemonVersion.string
    )

    @Option(help: "Repo directory (default: $THREADS_REPO, else ~/.threads).")
    var repo: String?

    func run() throws {
        let path = Repo.resolvePath(repo)
        print("threadsd \(DaemonVersion.string)")
        let opened: Repo
        do {
            if FileManager.default.fileExists(atPath: path + "/version") {
                opened = try Repo.open(at: path)
            } else {
                opened = try Repo.initialize(at: path)
                print("initialised a new repo at \(path)")
            }
        } catch {
            throw DaemonError(description: "\(error)")
        }
        let blocks = (try? opened.blockstore.count) ?? 0
        print("repo: \(path) (\(blocks) blocks)")
        print("peer ID: \(opened.peerID)")
        for addr in opened.config.listen {
            print("listen address (configured): \(addr)/p2p/\(opened.peerID)")
        }
        print("API address (configured): \(opened.config.api)")
        print("")
        print("This version has no network services yet (transport, DHT, replication and the HTTP API")
        print("come in later milestones), so threadsd stops here. Use `threads --help` for what works today.")
    }
}

enum DaemonVersion {
    static let string = "0.1.0"
}

/// A start-up failure, printed as one line.
struct DaemonError: Error, CustomStringConvertible {
    let description: String
}
