import DagCBOR
import Foundation
import Multiformats
import Store

/// Files as DAGs: the bytes cut into raw blocks, linked under DAG-CBOR file nodes
/// `{"type": "file", "size": <bytes below>, "links": [{"cid": <link>, "size": <bytes below it>}]}`.
/// Every leaf sits at the same depth (a balanced tree), and the root is always a file node, so
/// its `size` gives the file's length before any leaf is fetched.
public enum FileDAG {
    public static let defaultChunkSize = 256 * 1024
    /// Links per file node (a node then stays well under 64 KiB).
    public static let maxLinks = 1024

    /// A decoded file node.
    public struct Node: Sendable, Equatable {
        public var size: UInt64
        public var links: [Link]

        public struct Link: Sendable, Equatable {
            public var cid: CID
            public var size: UInt64
        }

        var ipld: IPLD {
            .map([
                "type": .string("file"), "size": .integer(IPLDInteger(size)),
                "links": .list(links.map { .map(["cid": .link($0.cid), "size": .integer(IPLDInteger($0.size))]) }),
            ])
        }

        /// Parses a file node strictly (what `Builder` writes, nothing else).
        public init(cid: CID, bytes: [UInt8]) throws(ExchangeError) {
            guard cid.codec == Multicodec.dagCBOR else { throw .notAFile(cid, reason: "a file node is DAG-CBOR") }
            guard let fields = (try? DagCBOR.decode(bytes))?.mapValue, fields["type"]?.stringValue == "file",
                let size = fields["size"]?.integerValue, !size.isNegative, let list = fields["links"]?.listValue,
                Set(fields.keys) == ["type", "size", "links"], list.count <= FileDAG.maxLinks
            else { throw .notAFile(cid, reason: "not a file node") }
            var links: [Link] = []
            var total: UInt64 = 0
            for item in list {
                guard let link = item.mapValue, let target = link["cid"]?.linkValue,
                    let bytes = link["size"]?.integerValue,
                    !bytes.isNegative, link.count == 2
                else { throw .notAFile(cid, reason: "bad link") }
                links.append(Link(cid: target, size: bytes.argument))
                // A sum that wraps around could hide links far larger than the node's size.
                let (sum, overflow) = total.addingReportingOverflow(bytes.argument)
                guard !overflow else { throw .notAFile(cid, reason: "link sizes overflow") }
                total = sum
            }
            // Only the empty file has a link of 0 bytes (its one empty chunk). Allowing more would
            // let a node of any size repeat empty subtrees without end, and `write` walk them all.
            guard links.count == 1 || !links.contains(where: { $0.size == 0 }) else {
                throw .notAFile(cid, reason: "a link of 0 bytes beside others")
            }
            guard total == size.argument else {
                throw .notAFile(cid, reason: "link sizes add up to \(total), not \(size.argument)")
            }
            self.size = size.argument
            self.links = links
        }

        init(links: [Link]) {
            self.links = links
            size = links.reduce(0) { $0 + $1.size }
        }
    }

    /// The CIDs a block links to, for walking a DAG as blocks arrive: a file node's children;
    /// nothing for raw leaves. Other DAG-CBOR nodes give every link they hold.
    public static func links(of cid: CID, bytes: [UInt8]) -> [CID] {
        guard cid.codec == Multicodec.dagCBOR else { return [] }
        if let node = try? Node(cid: cid, bytes: bytes) { return node.links.map(\.cid) }
        guard let value = try? DagCBOR.decode(bytes) else { return [] }
        var out: [CID] = []
        func walk(_ value: IPLD) {
            switch value {
            case .link(let link): out.append(link)
            case .list(let items): items.forEach(walk)
            case .map(let fields): fields.keys.sorted().forEach { walk(fields[$0]!) }
            default: break
            }
        }
        walk(value)
        return out
    }

    /// Builds a file DAG as bytes are appended, writing blocks to the blockstore in batches. Memory
    /// holds one chunk and one pending list of links per tree level, whatever the file's size.
    public struct Builder {
        let blockstore: Blockstore
        public let chunkSize: Int
        private var pending: [UInt8] = []
        private var levels: [[Node.Link]] = [[]]
        private var batch: [Block] = []
        private var batchBytes = 0
        public private(set) var bytesIn: UInt64 = 0

        public init(blockstore: Blockstore, chunkSize: Int = FileDAG.defaultChunkSize) {
            self.blockstore = blockstore
            self.chunkSize = max(1, min(chunkSize, ExchangeMessage.maxBlockSize))
            pending.reserveCapacity(self.chunkSize)
        }

        public mutating func append(_ bytes: some Collection<UInt8>) throws {
            var rest = bytes[...]
            while !rest.isEmpty {
                let take = min(chunkSize - pending.count, rest.count)
                pending.append(contentsOf: rest.prefix(take))
                rest = rest.dropFirst(take)
                bytesIn += UInt64(take)
                if pending.count == chunkSize { try flushChunk() }
            }
        }

        private mutating func flushChunk() throws {
            let block = try Block(bytes: pending, codec: Multicodec.raw)
            pending.removeAll(keepingCapacity: true)
            try store(block)
            try push(Node.Link(cid: block.cid, size: UInt64(block.bytes.count)), level: 0)
        }

        private mutating func store(_ block: Block) throws {
            batch.append(block)
            batchBytes += block.bytes.count
            if batchBytes >= 4 << 20 { try flushBatch(sync: false) }
        }

        private mutating func flushBatch(sync: Bool) throws {
            guard !batch.isEmpty else { return }
            try blockstore.put(batch, sync: sync)
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
        }

        private mutating func push(_ link: Node.Link, level: Int) throws {
            if levels.count <= level { levels.append([]) }
            levels[level].append(link)
            if levels[level].count == FileDAG.maxLinks {
                let full = levels[level]
                levels[level] = []
                try push(try storeNode(full), level: level + 1)
            }
        }

        private mutating func storeNode(_ links: [Node.Link]) throws -> Node.Link {
            let node = Node(links: links)
            let block = try Block(value: node.ipld)
            try store(block)
            return Node.Link(cid: block.cid, size: node.size)
        }

        /// Stores what remains and returns the root (a file node) and the file's size. The last
        /// batch is written with sync, so a returned root survives a crash with all its blocks.
        public mutating func finish() throws -> (root: CID, size: UInt64) {
            if !pending.isEmpty || bytesIn == 0 && levels[0].isEmpty { try flushChunk() }
            var level = 0
            var root: Node.Link?
            while level < levels.count {
                let links = levels[level]
                let isTop = level == levels.count - 1
                if isTop && links.count == 1 && level > 0 {
                    root = links[0]
                    break
                }
                if !links.isEmpty {
                    let link = try storeNode(links)
                    levels[level] = []
                    if isTop {
                        root = link
                        break
                    }
                    try push(link, level: level + 1)
                }
                level += 1
            }
            try flushBatch(sync: true)
            guard let root else { throw ExchangeError.io("empty DAG") }
            return (root.cid, root.size)
        }
    }

    /// Adds everything `handle` yields (a file or standard input) and returns the root.
    public static func add(
        from handle: FileHandle,
        to blockstore: Blockstore,
        chunkSize: Int = defaultChunkSize,
        progress: (UInt64) -> Void = { _ in }
    ) throws -> (root: CID, size: UInt64) {
        var builder = Builder(blockstore: blockstore, chunkSize: chunkSize)
        while true {
            let data: Data
            do {
                guard let read = try handle.read(upToCount: 1 << 20) else { break }
                data = read
            } catch {
                throw ExchangeError.io("cannot read the input: \(error.localizedDescription)")
            }
            if data.isEmpty { break }
            try builder.append(data)
            progress(builder.bytesIn)
        }
        return try builder.finish()
    }

    /// Writes the file under `root` to `output` in order, getting each block from `block` (the
    /// blockstore, or a session that fetches it). Returns the bytes written: never more than the
    /// root declares, as every block must hold the bytes its parent's link declares (else
    /// `ExchangeError.sizeMismatch`, thrown before any of that block is written).
    @discardableResult
    public static func write(
        _ root: CID,
        to output: FileHandle,
        block: (CID) async throws -> [UInt8],
        progress: (UInt64) -> Void = { _ in }
    ) async throws -> UInt64 {
        // A DAG may link one child many times, legitimately (a file of zeros repeats its chunks)
        // or not: unchecked, a small DAG could declare a few bytes and write fan-out^depth chunks.
        // Checking each child against its link keeps the output to what the root declares.
        var stack: [(cid: CID, declared: UInt64?)] = [(root, nil)]
        var limit: UInt64?
        var written: UInt64 = 0
        while let (cid, declared) = stack.popLast() {
            let bytes = try await block(cid)
            if cid.codec == Multicodec.raw {
                let size = UInt64(bytes.count)
                if let declared, size != declared {
                    throw ExchangeError.sizeMismatch(cid, declared: declared, actual: size)
                }
                // Implied by the checks of every link above, but it is the bound callers rely on.
                if let limit, written + size > limit {
                    throw ExchangeError.sizeMismatch(root, declared: limit, actual: written + size)
                }
                do { try output.write(contentsOf: bytes) } catch {
                    throw ExchangeError.io("cannot write the output: \(error.localizedDescription)")
                }
                written += size
                progress(written)
            } else {
                let node = try Node(cid: cid, bytes: bytes)
                if let declared, node.size != declared {
                    throw ExchangeError.sizeMismatch(cid, declared: declared, actual: node.size)
                }
                if limit == nil { limit = node.size }
                stack.append(contentsOf: node.links.reversed().map { ($0.cid, $0.size) })
            }
        }
        return written
    }
}
