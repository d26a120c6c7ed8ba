import ArgumentParser
import Multiformats
import Node

/// `threads init`: create a node repo with a fresh identity.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a node repo: identity key, config.json and the LevelDB datastore.",
        discussion: """
            Defaults written to config.json: listen \(RepoConfig.defaultListen), API \(RepoConfig.defaultAPI), \
            no bootstrap peers. Edit the file, or pass --listen/--api/--bootstrap here.
            """
    )

    @Option(name: .long, help: "Repo directory (default: $THREADS_REPO, else ~/.threads).")
    var repo: String?

    @Option(help: "Listen multiaddr (repeatable).")
    var listen: [String] = []

    @Option(help: "API multiaddr.")
    var api: String?

    @Option(help: "Bootstrap peer multiaddr ending in /p2p/<peer> (repeatable).")
    var bootstrap: [String] = []

    func run() throws {
        let listenAddrs = try listen.map { try parseMultiaddr($0, option: "--listen") }
        let apiAddr = try api.map { try parseMultiaddr($0, option: "--api") }
        let bootstrapAddrs = try bootstrap.map { try parseMultiaddr($0, option: "--bootstrap") }
        if let bad = bootstrapAddrs.first(where: { $0.peerID == nil }) {
            throw CLIError("--bootstrap: '\(bad)' must end in /p2p/<peer ID>")
        }
        let path = Repo.resolvePath(repo)
        let repo: Repo
        do {
            repo = try Repo.initialize(at: path) { config in
                if !listenAddrs.isEmpty { config.listen = listenAddrs }
                if let apiAddr { config.api = apiAddr }
                config.bootstrap = bootstrapAddrs
            }
        } catch {
            throw CLIError("\(error)")
        }
        print("initialised repo at \(path)")
        print("peer ID: \(repo.peerID)")
    }
}

func parseMultiaddr(_ text: String, option: String) throws -> Multiaddr {
    do {
        return try Multiaddr(text)
    } catch {
        throw CLIError("\(option): invalid multiaddr '\(text.truncatedForMessage)': \(error)")
    }
}
