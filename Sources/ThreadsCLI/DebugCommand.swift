import ArgumentParser
import DagCBOR
import Foundation
import Multiformats
import Node
import Store

/// Hidden commands used by the test suites that need a separate process (crash safety).
struct DebugCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug",
        abstract: "Tools for tests.",
        shouldDisplay: false,
        subcommands: [WriteBlocks.self, TCPSink.self, TCPSource.self, Call.self]
    )

    /// Puts random blocks with synced writes and prints `ack <cid>` after each write returns, so a
    /// test can kill the process at any moment and know exactly which writes were acknowledged.
    struct WriteBlocks: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "write-blocks")

        @OptionGroup var repoOptions: RepoOptions

        @Option(help: "Number of writes (0: until killed).")
        var count: Int = 0

        @Option(help: "Largest block size in bytes.")
        var maxSize: Int = 64 * 1024

        @Option(help: "Seed for the random contents.")
        var seed: UInt64 = 1

        func run() throws {
            let repo = try repoOptions.open()
            var generator = SplitMix64(seed: seed)
            var written = 0
            while count == 0 || written < count {
                // Every third write is a batch of several blocks, acknowledged together.
                let batchSize = written % 3 == 2 ? Int(generator.next() % 8) + 2 : 1
                var blocks: [Block] = []
                for _ in 0..<batchSize {
                    let size = Int(generator.next() % UInt64(max(maxSize, 1))) + 1
                    var bytes = [UInt8](repeating: 0, count: size)
                    for i in stride(from: 0, to: size, by: 8) {
                        var word = generator.next()
                        for j in i..<min(i + 8, size) {
                            bytes[j] = UInt8(truncatingIfNeeded: word)
                            word >>= 8
                        }
                    }
                    blocks.append(
                        Block(
                            unchecked: CID.v1(
                                codec: Multicodec.raw,
                                multihash: try Multihash.hash(bytes, using: .sha2_256)
                            ),
                            bytes: bytes
                        )
                    )
                }
                do {
                    try repo.blockstore.put(blocks, sync: true)
                } catch {
                    throw CLIError("write failed: \(error)")
                }
                let lines = blocks.map { "ack \($0.cid)\n" }.joined()
                FileHandle.standardOutput.write(Data(lines.utf8))
                written += 1
            }
        }
    }
}

extension DebugCommand {
    /// `threads debug call <command> [fields JSON]`: one API command, its JSON answer on stdout.
    /// For tools that reach a daemon inside a network namespace through `ip netns exec`.
    struct Call: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send one API command; print its answer.")
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Command name (see ThreadsAPI's route table).") var command: String
        @Argument(help: "Fields as a JSON object.") var fields: String = "{}"

        func run() async throws {
            guard
                let object = try? JSONSerialization.jsonObject(with: Data(fields.utf8)) as? [String: Any]
            else { throw CLIError("fields must be a JSON object") }
            let context: APIContext
            do { context = try APIContext.resolve(repoOptions) } catch { throw CLIError("\(error)") }
            FileHandle.standardOutput.write(Data(try await context.callRaw(command, object)))
        }
    }
}
