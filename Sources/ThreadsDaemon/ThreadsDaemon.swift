import ArgumentParser
import Foundation
import Logging
import Multiformats
import Node
import ServiceLifecycle
import Store
import ThreadsAPI

/// `threadsd`: the swift-threads node daemon.
@main
struct ThreadsDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threadsd",
        abstract: "The swift-threads node daemon.",
        version: DaemonVersion.string,
        subcommands: [Start.self, Init.self],
        defaultSubcommand: Start.self
    )
}

/// Where the repo is, shared by the subcommands.
struct RepoOption: ParsableArguments {
    @Option(help: "Repo directory (default: $THREADS_REPO, else ~/.threads).")
    var repo: String?

    var path: String { Repo.resolvePath(repo) }
}

/// `threadsd init`: creates the repo (identity, config, datastore, API token) and exits.
struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a repo and exit.")
    @OptionGroup var repoOption: RepoOption

    func run() async throws {
        let repo: Repo
        do { repo = try Repo.initialize(at: repoOption.path) } catch { throw DaemonError(description: "\(error)") }
        say("initialised a new repo at \(repo.path)")
        say("peer ID: \(repo.peerID)")
        say("API token: \(API.tokenFile(repo: repo.path)) (mode 0600)")
        repo.database.close()
    }
}

/// `threadsd [start]`: runs the node and its API until SIGINT or SIGTERM.
struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Run the node (the default).",
        discussion: """
            Creates the repo on first start (like `threadsd init`), listens for peers on the given TCP \
            multiaddrs (default: the repo's config, /ip4/0.0.0.0/tcp/4006; port 0 picks a free port), runs \
            the DHT on UDP (the same port number unless a /udp/ address is given), serves the HTTP/JSON API \
            (default /ip4/127.0.0.1/tcp/6006; every call needs the bearer token in <repo>/api.token), joins \
            the DHT through the bootstrap peers and runs until SIGINT or SIGTERM, when in-flight requests \
            finish and the store closes cleanly.
            """
    )

    @OptionGroup var repoOption: RepoOption

    @Option(
        name: .customLong("listen"),
        help:
            "Multiaddr to listen on: /ip4|ip6/<host>/tcp/<port> for peers, …/udp/<port> for the DHT (repeatable; default from config.json)."
    )
    var listenAddresses: [String] = []

    @Option(help: "Multiaddr of the HTTP API, /ip4|ip6/<host>/tcp/<port> (default from config.json; port 0 picks one).")
    var api: String?

    @Option(
        name: .customLong("bootstrap"),
        help: "Multiaddr of a node to join the DHT through, TCP or UDP (repeatable; added to config.json's list)."
    )
    var bootstrapAddresses: [String] = []

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Flag(help: "Serve the API without a token (refused unless it listens on a loopback address).")
    var noAuth = false

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw DaemonError(
                description: "--log-level: expected trace, debug, info, notice, warning, error or critical"
            )
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "threadsd")
        let path = repoOption.path
        let listen: [Multiaddr]
        let bootstrap: [Multiaddr]
        do { listen = try listenAddresses.map { try Multiaddr($0) } } catch {
            throw DaemonError(description: "--listen: \(error)")
        }
        do { bootstrap = try bootstrapAddresses.map { try Multiaddr($0) } } catch {
            throw DaemonError(description: "--bootstrap: \(error)")
        }
        let repo: Repo
        do {
            if FileManager.default.fileExists(atPath: path + "/version") {
                repo = try Repo.open(at: path)
            } else {
                repo = try Repo.initialize(at: path)
                say("initialised a new repo at \(path)")
            }
        } catch {
            throw DaemonError(description: "\(error)")
        }
        let apiAddress: Multiaddr
        do { apiAddress = try api.map { try Multiaddr($0) } ?? repo.config.api } catch {
            throw DaemonError(description: "--api: \(error)")
        }
        let parts = apiAddress.components
        guard parts.count == 2, parts[0].proto == .ip4 || parts[0].proto == .ip6, parts[1].proto == .tcp,
            let host = parts[0].valueString, let port = parts[1].valueString.flatMap(Int.init)
        else {
            throw DaemonError(description: "--api: use /ip4|ip6/<host>/tcp/<port>, not \(apiAddress)")
        }
        let loopback = host.hasPrefix("127.") || host == "::1"
        if noAuth && !loopback {
            throw DaemonError(
                description:
                    "refusing to serve the API on \(apiAddress) without a token: only loopback addresses may use --no-auth"
            )
        }
        let token: String?
        do { token = noAuth ? nil : try Repo.apiToken(at: path) } catch {
            throw DaemonError(description: "\(error)")
        }

        let node = ThreadsNode(repo: repo, logger: logger)
        say("Welcome to Threads! Your peer ID is \(repo.peerID)")
        let banner: [String]
        do {
            banner = try await node.start(listen: listen.isEmpty ? repo.config.listen : listen)
        } catch {
            await node.shutdown()
            throw DaemonError(description: "\(error)")
        }
        let peers = repo.config.bootstrap + bootstrap
        let service = NodeService(node: node, repo: repo, bootstrap: peers)
        let app = APIServer.application(node: node, host: host, port: port, token: token, logger: logger) {
            host,
            port in
            let url = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            try? Data((url + "\n").utf8).write(to: URL(fileURLWithPath: API.addressFile(repo: path)))
            // The API is up before the banner is printed, so whoever waits for the banner can use
            // the API at once.
            say("API server listening on \(url)")
            for line in banner { say(line) }
            service.started()
        }
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: service), .init(service: APIService(app: app, address: apiAddress))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // A request that never ends (a fetch no peer can serve, a client that keeps a stream
        // open) must not keep the daemon from stopping: past this, what still runs is cancelled.
        configuration.maximumGracefulShutdownDuration = .seconds(30)
        let group = ServiceGroup(configuration: configuration)
        do { try await group.run() } catch {
            throw DaemonError(description: "\(error)")
        }
    }
}

/// The API server. Its port held by another process (most often a second daemon started with
/// the same defaults) is said as such, with the address, rather than as the bind call's errno.
struct APIService<App: Service>: Service {
    let app: App
    let address: Multiaddr

    func run() async throws {
        do { try await app.run() } catch  where NodeError.isAddressInUse(error) {
            throw NodeError.cannotBind(address, for: "serve the API", error)
        }
    }
}

/// The node as a service: joins the DHT once the API is up, and on shutdown (after the API has
/// finished its requests) closes listeners, the network and the store.
final class NodeService: Service, @unchecked Sendable {
    let node: ThreadsNode
    let repo: Repo
    let bootstrap: [Multiaddr]
    private let ready = AsyncStream<Void>.makeStream()

    init(node: ThreadsNode, repo: Repo, bootstrap: [Multiaddr]) {
        self.node = node
        self.repo = repo
        self.bootstrap = bootstrap
    }

    func started() {
        ready.continuation.yield()
    }

    func run() async throws {
        let peers = bootstrap
        let node = self.node
        let joining = Task {
            for await _ in ready.stream { break }
            guard !peers.isEmpty else { return }
            let reached = await node.bootstrap(peers)
            say("DHT: reached \(reached.count) of \(peers.count) bootstrap peers")
        }
        try? await gracefulShutdown()
        say("shutting down")
        joining.cancel()
        await node.db.closeListeners()
        await node.shutdown()
        try? FileManager.default.removeItem(atPath: API.addressFile(repo: repo.path))
        try? repo.database.sync()
        repo.database.close()
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
