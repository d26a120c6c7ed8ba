import ArgumentParser
import Node

/// `--repo DIR`, shared by every command that works on a node repo.
struct RepoOptions: ParsableArguments {
    @Option(name: .long, help: "Repo directory (default: $THREADS_REPO, else ~/.threads).")
    var repo: String?

    var path: String { Repo.resolvePath(repo) }

    /// Opens the repo, turning its errors into one-line CLI errors.
    func open() throws -> Repo {
        do {
            return try Repo.open(at: path)
        } catch {
            throw CLIError("\(error)")
        }
    }
}
