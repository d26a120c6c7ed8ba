import ArgumentParser
import DagCBOR
import Foundation
import Multiformats
import Node
import Store

/// `threads block …`: raw blocks in the node's blockstore.
struct BlockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Put, get, stat and remove blocks in the repo's blockstore.",
        subcommands: [Put.self, Get.self, Stat.self, Remove.self]
    )

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store the bytes on stdin as one block and print its CID.",
            discussion: "dag-cbor input is checked to be strict DAG-CBOR before it is stored."
        )

        @OptionGroup var repoOptions: RepoOptions

        @Option(help: "Codec recorded in the CID: raw or dag-cbor.")
        var codec: String = "raw"

        @Option(help: "Hash function: sha2-256, sha2-512 or blake2b-256.")
        var hash: String = "sha2-256"

        func run() async throws {
            let code: UInt64
            switch codec {
            case "raw": code = Multicodec.raw
            case "dag-cbor": code = Multicodec.dagCBOR
            default: throw CLIError("--codec: unknown codec '\(codec)'; expected raw or dag-cbor")
            }
            let function = try hashFunction(named: hash)
            // Read at most one byte past the limit, so an oversized input is refused without
            // holding all of it in memory.
            let bytes = [UInt8]((try? FileHandle.standardInput.read(upToCount: BlockLimits.maxBlockSize + 1)) ?? Data())
            guard bytes.count <= BlockLimits.maxBlockSize else {
                throw CLIError(
                    "input is larger than \(BlockLimits.maxBlockSize) bytes, the largest block the network carries"
                )
            }
            if code == Multicodec.dagCBOR {
                do { _ = try DagCBOR.decode(bytes) } catch { throw CLIError("input is not valid DAG-CBOR: \(error)") }
            }
            let cid = CID.v1(codec: code, multihash: try Multihash.hash(bytes, using: function))
            if repoOptions.daemonRunning {
                _ = try await viaDaemon(repoOptions, "block.put", ["codec": codec, "hash": hash, "data": Data(bytes)])
                print(cid.description)
                return
            }
            let repo = try repoOptions.open()
            do {
                try repo.blockstore.put(Block(unchecked: cid, bytes: bytes), sync: true)
            } catch {
                throw CLIError("storing block \(cid): \(error)")
            }
            print(cid.description)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a block's bytes to stdout.")

        @OptionGroup var repoOptions: RepoOptions

        @Argument(help: "The block's CID.")
        var cid: String

        func run() async throws {
            let id = try parseCID(cid)
            if repoOptions.daemonRunning {
                writeStdout(try await viaDaemon(repoOptions, "block.get", ["cid": id.description]))
                return
            }
            let repo = try repoOptions.open()
            let data: Data?
            do { data = try repo.blockstore.getData(id, verify: true) } catch {
                throw CLIError("reading block \(id): \(error)")
            }
            guard let data else { throw CLIError("block \(id) not found in \(repo.path)") }
            FileHandle.standardOutput.write(data)
        }
    }

    struct Stat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a block's CID and size as JSON.")

        @OptionGroup var repoOptions: RepoOptions

        @Argument(help: "The block's CID.")
        var cid: String

        func run() async throws {
            let id = try parseCID(cid)
            let size: Int?
            if repoOptions.daemonRunning {
                let answer = try await viaDaemon(repoOptions, "block.stat", ["cid": id.description])
                size = (try? JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any])?["size"] as? Int
                print(JSONOutput.object([("cid", .string(id.description)), ("size", .int(Int64(size ?? 0)))]).pretty)
                return
            }
            let repo = try repoOptions.open()
            do { size = try repo.blockstore.size(of: id) } catch { throw CLIError("reading block \(id): \(error)") }
            guard let size else { throw CLIError("block \(id) not found in \(repo.path)") }
            print(JSONOutput.object([("cid", .string(id.description)), ("size", .int(Int64(size)))]).pretty)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a block.")

        @OptionGroup var repoOptions: RepoOptions

        @Argument(help: "The block's CID.")
        var cid: String

        func run() async throws {
            let id = try parseCID(cid)
            if repoOptions.daemonRunning {
                _ = try await viaDaemon(repoOptions, "block.rm", ["cid": id.description])
                print("removed \(id)")
                return
            }
            let repo = try repoOptions.open()
            let present: Bool
            do { present = try repo.blockstore.has(id) } catch { throw CLIError("reading block \(id): \(error)") }
            guard present else { throw CLIError("block \(id) not found in \(repo.path)") }
            do { try repo.blockstore.delete(id, sync: true) } catch { throw CLIError("removing block \(id): \(error)") }
            print("removed \(id)")
        }
    }
}

/// Runs a command on the daemon serving the repo; returns the answer's bytes.
func viaDaemon(_ options: RepoOptions, _ command: String, _ fields: [String: Any]) async throws -> [UInt8] {
    let context: APIContext
    do { context = try APIContext.resolve(options) } catch { throw CLIError("\(error)") }
    return try await context.callRaw(command, fields)
}

/// Reads a block, verifying its hash, or fails with a clear message when it is missing.
func fetchBlock(_ repo: Repo, _ cid: CID) throws -> [UInt8] {
    let bytes: [UInt8]?
    do { bytes = try repo.blockstore.get(cid, verify: true) } catch { throw CLIError("reading block \(cid): \(error)") }
    guard let bytes else { throw CLIError("block \(cid) not found in \(repo.path)") }
    return bytes
}

func readAllStdin() -> [UInt8] {
    [UInt8](FileHandle.standardInput.readDataToEndOfFile())
}

func writeStdout(_ bytes: [UInt8]) {
    FileHandle.standardOutput.write(Data(bytes))
}

/// Sizes the blockstore accepts through the CLI.
enum BlockLimits {
    /// Matches the exchange's largest block (DESIGN.md section 6), so every stored block can be served.
    static let maxBlockSize = 2 * 1024 * 1024
}
