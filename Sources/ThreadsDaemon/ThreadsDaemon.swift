import ArgumentParser
import Foundation
import Multiformats
import Node
import Store

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
            (default: the repo's config, /ip4/0.0.0.0/tcp/4006; port 0 picks a free port), runs the DHT \
            on UDP (the same port number unless a /udp/ address is given), joins the DHT through the \
            bootstrap peers and runs until interrupted. `threads swarm …` and `threads dht …` talk to it \
            through <repo>/threadsd.sock.
            """,
        version: DaemonVersion.string
    )

    @Option(help: "Repo directory (default: $THREADS_REPO, else ~/.threads).")
    var repo: String?

    @Option(
        name: .customLong("listen"),
        help:
            "Multiaddr to listen on: /ip4|ip6/<host>/tcp/<port> for peers, …/udp/<port> for the DHT (repeatable; default from config.json; the DHT binds UDP on the TCP port unless told otherwise)."
    )
    var listenAddresses: [String] = []

    @Option(
        name: .customLong("bootstrap"),
        help: "Multiaddr of a node to join the DHT through, TCP or UDP (repeatable; added to config.json's list)."
    )
    var bootstrapAddresses: [String] = []

    func run() async throws {
        let path = Repo.resolvePath(repo)
        let listen: [Multiaddr]
        let bootstrap: [Multiaddr]
        do {
            listen = try listenAddresses.map { try Multiaddr($0) }
        } catch {
            throw DaemonError(description: "--listen: \(error)")
        }
        do {
            bootstrap = try bootstrapAddresses.map { try Multiaddr($0) }
        } catch {
            throw DaemonError(description: "--bootstrap: \(error)")
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

        let node = ThreadsNode(repo: opened)
        say("Welcome to Threads! Your peer ID is \(opened.peerID)")
        let banner: [String]
        do {
            banner = try await node.start(listen: listen.isEmpty ? opened.config.listen : listen)
        } catch {
            await node.shutdown()
            throw DaemonError(description: "\(error)")
        }
        // The control channel is up before the banner is printed, so whoever waits for the banner
        // can use `threads swarm|dht|add|get` at once.
        let control = try await ControlChannel.serve(repo: path)
        let controlTask = Task {
            try? await ControlChannel.run(control) { request, progress in
                await node.handle(request, progress: progress)
            }
        }
        for line in banner { say(line) }
        let peers = opened.config.bootstrap + bootstrap
        let bootstrapTask = Task {
            guard !peers.isEmpty else { return }
            let reached = await node.bootstrap(peers)
            say("DHT: reached \(reached.count) of \(peers.count) bootstrap peers")
        }
        await Self.waitForTerminationSignal()
        say("shutting down")
        bootstrapTask.cancel()
        try? await control.channel.close()
        controlTask.cancel()
        await node.shutdown()
        ControlChannel.remove(repo: path)
        opened.database.close()
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
