import ArgumentParser
internal import CLevelDB
internal import CSodium
import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store

/// `threads bench store`: the Swift layers next to the C libraries they wrap, on the same data in
/// the same run. Blockstore vs raw LevelDB C API; Ed25519 and AEAD vs libsodium called directly.
struct StoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Blockstore put/get vs raw LevelDB; Ed25519 and AEAD vs raw libsodium."
    )

    @OptionGroup var options: BenchOptions

    @Option(help: "Directory for the temporary databases (default: the system temp directory).")
    var directory: String?

    func run() throws {
        let runner = BenchRunner(options)
        let base = directory ?? FileManager.default.temporaryDirectory.path
        let root = base + "/threads-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        print(
            "threads bench store: best of \(options.rounds) rounds of >= \(options.roundMilliseconds) ms; libsodium \(Sodium.version)"
        )
        print("")
        try storeFigures(runner, root: root)
        print("")
        try cryptoFigures(runner)
    }

    // MARK: - Blockstore vs LevelDB

    private func storeFigures(_ runner: BenchRunner, root: String) throws {
        var table = BenchTable(header: ["blocks", "Swift blockstore", "raw LevelDB C API", "ratio"])
        var generator = SplitMix64(seed: 3)
        for size in [1024, 256 * 1024] {
            let label = size == 1024 ? "1 KiB" : "256 KiB"
            // Enough distinct blocks that puts keep writing new data rather than hitting existing keys.
            let count = size == 1024 ? 5_000 : 100
            let blocks: [Block] = try (0..<count).map { _ in
                let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                return Block(
                    unchecked: CID.v1(codec: Multicodec.raw, multihash: try Multihash.hash(bytes, using: .sha2_256)),
                    bytes: bytes
                )
            }
            let keys = blocks.map { Array(Keyspace.blocks.utf8) + $0.cid.bytes }

            for batched in [false, true] {
                let mode = batched ? "batched x64" : "single"
                // Each round writes into a fresh pair of databases so both sides do the same work.
                var round = 0
                let swiftPut = runner.megabytesPerSecond(bytesPerCall: size * count) {
                    round += 1
                    let db = try! Database(path: "\(root)/swift-\(size)-\(batched)-\(round)")
                    let store = Blockstore(database: db)
                    if batched {
                        for chunk in stride(from: 0, to: count, by: 64) {
                            try! store.put(Array(blocks[chunk..<min(chunk + 64, count)]))
                        }
                    } else {
                        for block in blocks { try! store.put(block) }
                    }
                    db.close()
                }
                let rawPut = runner.megabytesPerSecond(bytesPerCall: size * count) {
                    round += 1
                    let raw = RawLevelDB(path: "\(root)/raw-\(size)-\(batched)-\(round)")
                    if batched {
                        for chunk in stride(from: 0, to: count, by: 64) {
                            raw.writeBatch(
                                keys: keys[chunk..<min(chunk + 64, count)],
                                values: blocks[chunk..<min(chunk + 64, count)].map(\.bytes)
                            )
                        }
                    } else {
                        for (key, block) in zip(keys, blocks) { raw.put(key, block.bytes) }
                    }
                    raw.close()
                }
                table.add(
                    "\(label) put, \(mode) (MB/s)",
                    formatRate(swiftPut),
                    formatRate(rawPut),
                    formatPercent(swiftPut / rawPut)
                )
            }

            // Reads from one populated database through both paths.
            let path = "\(root)/read-\(size)"
            do {
                let db = try Database(path: path)
                try Blockstore(database: db).put(blocks)
                db.close()
            }
            let db = try Database(path: path)
            let store = Blockstore(database: db)
            let swiftGet = runner.megabytesPerSecond(bytesPerCall: size * count) {
                for block in blocks { blackHole(try! store.get(block.cid)) }
            }
            let swiftData = runner.megabytesPerSecond(bytesPerCall: size * count) {
                for block in blocks { blackHole(try! store.getData(block.cid)) }
            }
            let swiftVerified = runner.megabytesPerSecond(bytesPerCall: size * count) {
                for block in blocks { blackHole(try! store.getData(block.cid, verify: true)) }
            }
            db.close()
            let raw = RawLevelDB(path: path)
            let rawGet = runner.megabytesPerSecond(bytesPerCall: size * count) {
                for key in keys { blackHole(raw.get(key)) }
            }
            raw.close()
            table.add(
                "\(label) get as [UInt8], one copy (MB/s)",
                formatRate(swiftGet),
                formatRate(rawGet),
                formatPercent(swiftGet / rawGet)
            )
            table.add(
                "\(label) getData, no copy (MB/s)",
                formatRate(swiftData),
                formatRate(rawGet),
                formatPercent(swiftData / rawGet)
            )
            table.add(
                "\(label) get + verify hash (MB/s)",
                formatRate(swiftVerified),
                formatRate(rawGet),
                formatPercent(swiftVerified / rawGet)
            )
        }
        print(table.render())
    }

    // MARK: - libsodium

    private func cryptoFigures(_ runner: BenchRunner) throws {
        var table = BenchTable(header: ["crypto", "Swift layer", "libsodium direct", "ratio"])
        let key = Ed25519.PrivateKey()
        let message = Random.bytes(count: 256)
        let signature = key.signature(for: message)
        var rawPublic = [UInt8](repeating: 0, count: 32)
        var rawSecret = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_keypair(&rawPublic, &rawSecret)
        var rawSignature = [UInt8](repeating: 0, count: 64)

        let sign = runner.opsPerSecond { blackHole(key.signature(for: message)) }
        let rawSign = runner.opsPerSecond {
            _ = crypto_sign_detached(&rawSignature, nil, message, UInt64(message.count), rawSecret)
            blackHole(rawSignature)
        }
        table.add(
            "Ed25519 sign, 256 B (ops/s)",
            formatRate(sign, decimals: 0),
            formatRate(rawSign, decimals: 0),
            formatPercent(sign / rawSign)
        )
        let verify = runner.opsPerSecond { blackHole(key.publicKey.isValidSignature(signature, for: message)) }
        let rawVerify = runner.opsPerSecond {
            blackHole(crypto_sign_verify_detached(rawSignature, message, UInt64(message.count), rawPublic))
        }
        table.add(
            "Ed25519 verify, 256 B (ops/s)",
            formatRate(verify, decimals: 0),
            formatRate(rawVerify, decimals: 0),
            formatPercent(verify / rawVerify)
        )

        let symmetric = SymmetricKey()
        let rawKey = symmetric.withUnsafeBytes { Array($0) }
        for size in [1024, 1 << 20] {
            let label = size == 1024 ? "1 KiB" : "1 MiB"
            let plaintext = Random.bytes(count: size)
            let nonce = Random.bytes(count: 24)
            let sealed = try AEADAlgorithm.xchacha20poly1305.seal(plaintext, key: symmetric, nonce: nonce)
            var out = [UInt8](repeating: 0, count: size + 16)
            var outLength: UInt64 = 0
            let seal = runner.megabytesPerSecond(bytesPerCall: size) {
                blackHole(try! AEADAlgorithm.xchacha20poly1305.seal(plaintext, key: symmetric, nonce: nonce))
            }
            let rawSeal = runner.megabytesPerSecond(bytesPerCall: size) {
                var buffer = [UInt8](repeating: 0, count: size + 16)
                _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                    &buffer,
                    &outLength,
                    plaintext,
                    UInt64(size),
                    nil,
                    0,
                    nil,
                    nonce,
                    rawKey
                )
                blackHole(buffer)
            }
            table.add(
                "XChaCha20-Poly1305 seal \(label) (MB/s)",
                formatRate(seal),
                formatRate(rawSeal),
                formatPercent(seal / rawSeal)
            )
            let open = runner.megabytesPerSecond(bytesPerCall: size) {
                blackHole(try! AEADAlgorithm.xchacha20poly1305.open(sealed, key: symmetric, nonce: nonce))
            }
            let rawOpen = runner.megabytesPerSecond(bytesPerCall: size) {
                var buffer = [UInt8](repeating: 0, count: size)
                _ = crypto_aead_xchacha20poly1305_ietf_decrypt(
                    &buffer,
                    &outLength,
                    nil,
                    sealed,
                    UInt64(sealed.count),
                    nil,
                    0,
                    nonce,
                    rawKey
                )
                blackHole(buffer)
            }
            table.add(
                "XChaCha20-Poly1305 open \(label) (MB/s)",
                formatRate(open),
                formatRate(rawOpen),
                formatPercent(open / rawOpen)
            )
            blackHole(out.withUnsafeMutableBytes { $0.count })
            out = []
        }
        print(table.render())
    }
}

/// LevelDB through its C API with no Swift layer in between: the baseline for the blockstore.
/// Same options as `Database` (snappy, bloom filter, same cache and write buffer sizes). Its keys
/// are built before timing starts, and `get` frees LevelDB's copy without copying it again: the
/// least a C caller could do.
final class RawLevelDB {
    let db: OpaquePointer
    let options: OpaquePointer
    let cache: OpaquePointer
    let filter = leveldb_filterpolicy_create_bloom(10)!
    let readOptions = leveldb_readoptions_create()!
    let writeOptions = leveldb_writeoptions_create()!

    init(path: String) {
        options = leveldb_options_create()
        cache = leveldb_cache_create_lru(8 << 20)
        leveldb_options_set_create_if_missing(options, 1)
        leveldb_options_set_compression(options, Int32(leveldb_snappy_compression))
        leveldb_options_set_cache(options, cache)
        leveldb_options_set_write_buffer_size(options, 32 << 20)
        leveldb_options_set_max_file_size(options, 32 << 20)
        leveldb_options_set_filter_policy(options, filter)
        var error: UnsafeMutablePointer<CChar>? = nil
        db = leveldb_open(options, path, &error)!
    }

    func put(_ key: [UInt8], _ value: [UInt8]) {
        var error: UnsafeMutablePointer<CChar>? = nil
        key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                leveldb_put(
                    db,
                    writeOptions,
                    k.baseAddress!.assumingMemoryBound(to: CChar.self),
                    k.count,
                    v.baseAddress!.assumingMemoryBound(to: CChar.self),
                    v.count,
                    &error
                )
            }
        }
    }

    func writeBatch(keys: ArraySlice<[UInt8]>, values: [[UInt8]]) {
        let batch = leveldb_writebatch_create()
        for (key, value) in zip(keys, values) {
            key.withUnsafeBytes { k in
                value.withUnsafeBytes { v in
                    leveldb_writebatch_put(
                        batch,
                        k.baseAddress!.assumingMemoryBound(to: CChar.self),
                        k.count,
                        v.baseAddress!.assumingMemoryBound(to: CChar.self),
                        v.count
                    )
                }
            }
        }
        var error: UnsafeMutablePointer<CChar>? = nil
        leveldb_write(db, writeOptions, batch, &error)
        leveldb_writebatch_destroy(batch)
    }

    func get(_ key: [UInt8]) -> Int {
        var length = 0
        var error: UnsafeMutablePointer<CChar>? = nil
        let value = key.withUnsafeBytes { k in
            leveldb_get(db, readOptions, k.baseAddress!.assumingMemoryBound(to: CChar.self), k.count, &length, &error)
        }
        if let value { leveldb_free(value) }
        return length
    }

    func close() {
        leveldb_close(db)
        leveldb_readoptions_destroy(readOptions)
        leveldb_writeoptions_destroy(writeOptions)
        leveldb_options_destroy(options)
        leveldb_cache_destroy(cache)
        leveldb_filterpolicy_destroy(filter)
    }
}
