import ArgumentParser
import Foundation
import Node

/// `--repo DIR`, shared by every command that works on a node repo.
struct RepoOptions: ParsableArguments {
    @Option(name: .long, help: "Repo directory (default: $THREADS_REPO, else ~/.threads).")
    var repo: String?

    @Option(name: .long, help: "The daemon's API, http://HOST:PORT (default: the address recorded in the repo).")
    var api: String?

    @Option(name: .long, help: "The API's bearer token (default: <repo>/api.token).")
    var token: String?

    var path: String { Repo.resolvePath(repo) }

    /// Whether a daemon serves this repo (or `--api` names one): the address is recorded and the
    /// repo is held open (a daemon killed outright leaves the address file, not the lock).
    var daemonRunning: Bool {
        api != nil || (FileManager.default.fileExists(atPath: path + "/api") && Repo.isInUse(at: path))
    }

    /// Opens the repo, turning its errors into one-line CLI errors.
    func open() throws -> Repo {
        do {
            return try Repo.open(at: path)
        } catch {
            throw CLIError("\(error)")
        }
    }
}
