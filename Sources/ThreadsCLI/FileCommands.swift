import ArgumentParser
import Exchange
import Foundation
import Multiformats
import Node
import Synchronization
import ThreadsAPI

/// `threads add`: a file (or standard input) into the repo as a file DAG, announced in the DHT.
struct AddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a file to the repo as a DAG of raw chunks and print its root CID.",
        discussion: """
            With a running threadsd the daemon stores the file and announces the root as a provider \
            in the DHT, so other nodes can `threads get` it. Without one, the file is stored in the \
            repo directly and announced the next time the daemon runs and is asked to (`threads dht provide`).
            """
    )

    @OptionGroup var repoOptions: RepoOptions

    @Argument(help: "The file to add, or - for standard input.")
    var file: String

    @Option(help: "Bytes per raw chunk (at most 2 MiB).")
    var chunkSize: Int = FileDAG.defaultChunkSize

    func validate() throws {
        guard chunkSize > 0, chunkSize <= 2 << 20 else {
            throw ValidationError("--chunk-size must be between 1 and 2097152")
        }
    }

    func run() async throws {
        var path = file
        var temporary: String?
        if file == "-" {
            // Uploads and local adds read files: stdin goes through a temporary file first.
            path =
                FileManager.default.temporaryDirectory.appendingPathComponent("threads-add-\(UUID().uuidString)").path
            guard FileManager.default.createFile(atPath: path, contents: nil),
                let out = FileHandle(forWritingAtPath: path)
            else {
                throw CLIError("cannot write \(path)")
            }
            defer { try? out.close() }
            while let chunk = try FileHandle.standardInput.read(upToCount: 1 << 20), !chunk.isEmpty {
                try out.write(contentsOf: chunk)
            }
            temporary = path
        } else {
            path = URL(fileURLWithPath: file).standardizedFileURL.path
            guard FileManager.default.isReadableFile(atPath: path) else { throw CLIError("cannot read \(file)") }
        }
        defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }

        let bar = ProgressBar(label: "adding")
        guard repoOptions.daemonRunning else {
            let repo = try repoOptions.open()
            defer { repo.database.close() }
            guard let handle = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(file)") }
            let (root, _) = try FileDAG.add(from: handle, to: repo.blockstore, chunkSize: chunkSize) { bytes in
                bar.update(bytes: bytes, total: nil)
            }
            bar.finish()
            print(root)
            warn("no threadsd is running: stored locally, not announced in the DHT")
            return
        }
        let context: APIContext
        do { context = try APIContext.resolve(repoOptions) } catch { throw CLIError("\(error)") }
        let total = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int).map { UInt64($0) }
        let response: HTTPClient.Response
        do {
            response = try await context.client.upload(
                "POST",
                API.route(for: "add")!.path + "?chunk-size=\(chunkSize)",
                headers: [("Content-Type", "application/octet-stream")],
                file: path
            ) { sent in bar.update(bytes: UInt64(sent), total: total) }
        } catch {
            bar.finish()
            throw CLIError("cannot reach threadsd at \(context.url): \(error)")
        }
        bar.finish()
        try APIContext.check(response)
        let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        print(object?["cid"] as? String ?? "?")
        if (object?["announced"] as? Int ?? 0) == 0 {
            warn("the root is stored but no DHT node took the provider record (is the daemon bootstrapped?)")
        }
    }
}

/// `threads get`: a file DAG from the network into a local file.
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Fetch a file by its root CID from any peers that have it and write it out.",
        discussion: """
            The daemon asks its connected peers, then the providers the DHT knows, checks every block \
            against its CID, and stores the blocks in the repo. A progress bar (bytes, rate, ETA) is \
            shown on a terminal.
            """
    )

    @OptionGroup var repoOptions: RepoOptions

    @Argument(help: "Root CID of the file.")
    var cid: String

    @Option(name: .shortAndLong, help: "Where to write the file (default: ./<cid>).")
    var output: String?

    func run() async throws {
        let root: CID
        do { root = try CID(cid) } catch { throw CLIError("'\(cid)' is not a CID: \(error)") }
        let path = URL(fileURLWithPath: output ?? root.description).standardizedFileURL.path
        let written = try await fetchFile(root, to: path, repo: repoOptions, quiet: false)
        if isatty(STDOUT_FILENO) == 1 { print("saved \(path) (\(written) bytes)") }
    }
}

/// `threads cat`: a file DAG to standard output.
struct CatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
        abstract: "Write a file (fetched from the network if needed) to standard output."
    )

    @OptionGroup var repoOptions: RepoOptions

    @Argument(help: "Root CID of the file.")
    var cid: String

    func run() async throws {
        let root: CID
        do { root = try CID(cid) } catch { throw CLIError("'\(cid)' is not a CID: \(error)") }
        let directory = repoOptions.path + "/tmp"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/cat-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try await fetchFile(root, to: path, repo: repoOptions, quiet: true)
        guard let input = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(path)") }
        defer { try? input.close() }
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            FileHandle.standardOutput.write(chunk)
        }
    }
}

/// Gets the file through the daemon; without one, writes it from the local blockstore when every
/// block is there.
func fetchFile(_ root: CID, to path: String, repo options: RepoOptions, quiet: Bool) async throws -> UInt64 {
    let bar = ProgressBar(label: "fetching", enabled: !quiet)
    guard options.daemonRunning else {
        let repo = try options.open()
        defer { repo.database.close() }
        guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path)
        else {
            throw CLIError("cannot write \(path)")
        }
        defer { try? out.close() }
        do {
            return try await FileDAG.write(root, to: out) { cid in
                guard let bytes = try repo.blockstore.get(cid) else {
                    throw CLIError("block \(cid) is not in the local repo, and no threadsd is running to fetch it")
                }
                return bytes
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw CLIError("\(error)")
        }
    }
    let context: APIContext
    do { context = try APIContext.resolve(options) } catch { throw CLIError("\(error)") }
    guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path)
    else {
        throw CLIError("cannot write \(path)")
    }
    let download = Download(out)
    do {
        try await context.client.stream(
            "GET",
            API.route(for: "get")!.path(with: ["cid": root.description]),
            head: { status, headers in
                download.status = status
                download.total = headers.first { $0.0.lowercased() == "content-length" }.flatMap { UInt64($0.1) }
            },
            chunk: { bytes in
                guard download.status == 200 else {
                    download.error += bytes
                    return
                }
                try download.write(bytes)
                bar.update(bytes: download.written, total: download.total)
            }
        )
    } catch {
        bar.finish()
        try? out.close()
        try? FileManager.default.removeItem(atPath: path)
        throw CLIError("cannot reach threadsd at \(context.url): \(error)")
    }
    bar.finish()
    try? out.close()
    guard download.status == 200 else {
        try? FileManager.default.removeItem(atPath: path)
        try APIContext.check(HTTPClient.Response(status: download.status, headers: [], body: download.error))
        return 0
    }
    return download.written
}

/// A download in progress: the file written and what the response said.
final class Download: @unchecked Sendable {
    let out: FileHandle
    var status = 0
    var total: UInt64?
    var written: UInt64 = 0
    var error: [UInt8] = []

    init(_ out: FileHandle) {
        self.out = out
    }

    func write(_ bytes: [UInt8]) throws {
        try out.write(contentsOf: Data(bytes))
        written += UInt64(bytes.count)
    }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

/// A one-line progress bar on standard error (bytes, rate, ETA), drawn only on a terminal.
final class ProgressBar: Sendable {
    private let label: String
    private let enabled: Bool
    private let start = ContinuousClock.now
    private let drawn = Mutex(false)

    init(label: String, enabled: Bool = true) {
        self.label = label
        self.enabled = enabled && isatty(STDERR_FILENO) == 1
    }

    func update(bytes: UInt64, total: UInt64?) {
        guard enabled else { return }
        let elapsed = ContinuousClock.now - start
        let seconds = elapsed.seconds
        let rate = seconds > 0 ? Double(bytes) / seconds : 0
        var line = "\(label) \(Self.size(bytes))"
        if let total, total > 0 {
            let fraction = min(1, Double(bytes) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            line =
                "\(label) [" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
                + "] "
                + "\(Self.size(bytes)) / \(Self.size(total))"
            if rate > 0 { line += "  ETA \(Int((Double(total - min(bytes, total)) / rate).rounded()))s" }
        }
        line += "  \(Self.size(UInt64(rate)))/s"
        drawn.withLock { $0 = true }
        FileHandle.standardError.write(Data(("\r\u{1b}[K" + line).utf8))
    }

    func finish() {
        guard enabled, drawn.withLock({ $0 }) else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    static func size(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : formatRate(value) + " " + units[unit]
    }
}
