import ArgumentParser
import Foundation
import Multiformats
import Node
import Store
import Transport

/// `threadsd`: the swift-threads node daemon.
///
/// Opens (or creates) the repo, listens for peers on the configured TCP addresses with the Noise
/// secure transport, and serves the local control channel that `threads swarm …` uses. Runs until
/// SIGINT or SIGTERM.
@main
struct ThreadsDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threadsd",
        abstract: "The swift-threads node daemon.",
        discussion: """
            Creates the repo on first start (like `threads init`), listens on the given TCP multiaddrs \
            (default: the repo's config, /ip4/0.0.0.0/tcp/4006; port 0 picks a free port) and runs until \
            interrupted. `threads swarm peers|connect` talk to it through <repo>/threadsd.sock.
            """,
        version: DaemonVersion.string
    )

    @Option(help: "Repo directory (default: $THREADS_REPO, else ~/.threads).")
    var repo: String?

    @Option(name: .customLong("listen"), help: "TCP multiaddr to listen on (repeatable; default from config.json).")
    var listenAddresses: [String] = []

    func run() async throws {
        let path = Repo.resolvePath(repo)
        let listen: [Multiaddr]
        do {
            listen = try listenAddresses.map { try Multiaddr($0) }
        } catch {
            throw DaemonError(description: "--listen: \(error)")
        }
        let opened: Repo
        do {
            if FileManager.default.fileExists(atPath: path + "/version") {
                opened = try Repo.open(at: path)
            } else {
                opened = try Repo.initialize(at: path)
                say("initialised a new repo at \(path)")
            }
        } catch {
            throw DaemonError(description: "\(error)")
        }

        let manager = ConnectionManager(
            transport: SecureTransport(identity: opened.identity),
            protocols: MuxProtocols(),
            peerstore: Peerstore(database: opened.database)
        )
        say("Welcome to Threads! Your peer ID is \(opened.peerID)")
        for address in listen.isEmpty ? opened.config.listen : listen {
            let bound: Multiaddr
            do {
                bound = try await manager.listen(on: address)
            } catch {
                throw DaemonError(description: "cannot listen on \(address): \(error)")
            }
            say("Listening on \(bound)/p2p/\(opened.peerID)")
        }

        let control = try await ControlChannel.serve(repo: path)
        let controlTask = Task {
            try? await ControlChannel.run(control) { request in await Self.handle(request, manager: manager) }
        }
        await Self.waitForTerminationSignal()
        say("shutting down")
        try? await control.channel.close()
        controlTask.cancel()
        await manager.shutdown()
        ControlChannel.remove(repo: path)
        opened.database.close()
    }

    static func handle(_ request: [String: Any], manager: ConnectionManager) async -> [String: Any] {
        switch request["command"] as? String {
        case "swarm.peers":
            var result: [[String: Any]] = []
            for peer in await manager.connectedPeers.sorted() {
                var entry: [String: Any] = ["peerID": peer.description]
                if let address = await manager.connection(to: peer)?.remoteAddress {
                    entry["address"] = address.description
                }
                result.append(entry)
            }
            return ["ok": true, "result": result]
        case "swarm.connect":
            guard let text = request["address"] as? String else { return ["ok": false, "error": "missing address"] }
            do {
                let address = try Multiaddr(text)
                let connection = try await manager.connect(address)
                return ["ok": true, "result": ["peerID": connection.remotePeer.description]]
            } catch {
                return ["ok": false, "error": "\(error)"]
            }
        default:
            return ["ok": false, "error": "unknown command \(request["command"] ?? "none")"]
        }
    }

    /// Suspends until SIGINT or SIGTERM.
    static func waitForTerminationSignal() async {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let queue = DispatchQueue(label: "threadsd.signals")
        let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = OnceFlag()
            for source in sources {
                source.setEventHandler {
                    if once.claim() { continuation.resume() }
                }
                source.resume()
            }
        }
        sources.forEach { $0.cancel() }
    }
}

/// True for the first caller only.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false

    func claim() -> Bool {
        lock.withLock {
            defer { claimed = true }
            return !claimed
        }
    }
}

enum DaemonVersion {
    static let string = "0.1.0"
}

/// A start-up failure, printed as one line.
struct DaemonError: Error, CustomStringConvertible {
    let description: String
}

/// Writes a line straight to standard output (unbuffered), so supervisors and tests see each line
/// as soon as it is printed.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
