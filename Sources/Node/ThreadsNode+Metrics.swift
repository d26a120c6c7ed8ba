import Foundation
import Threads

/// `GET /metrics`: the node's figures in the Prometheus text exposition format (version 0.0.4).
extension ThreadsNode {
    func metrics() async -> String {
        var lines: [String] = []
        func gauge(_ name: String, _ help: String, _ value: some BinaryInteger, labels: String = "") {
            if !lines.contains("# TYPE \(name) gauge") {
                lines.append("# HELP \(name) \(help)")
                lines.append("# TYPE \(name) gauge")
            }
            lines.append("\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(value)")
        }
        gauge("threads_peers_connected", "Peers with an open connection.", await manager.connectedPeers.count)
        gauge("threads_blocks", "Blocks in the blockstore.", (try? repo.blockstore.count) ?? 0)
        gauge("threads_block_bytes", "Bytes of block data in the blockstore.", (try? repo.blockstore.totalSize) ?? 0)
        let threads = (try? logstore.threads()) ?? []
        gauge("threads_threads", "Threads this node holds.", threads.count)
        var records: UInt64 = 0
        for thread in threads {
            records += ((try? logstore.heads(of: thread)) ?? [:]).values.reduce(0) { $0 + $1.sequence + 1 }
        }
        gauge("threads_records", "Records in every log of every thread.", records)
        gauge(
            "threads_replication_lag_records",
            "Records peers reported (in their heads) that this node does not hold yet.",
            await replicator.lag()
        )
        gauge("threads_db_listeners", "Open database listeners.", await db.listenerCount)
        if let dht {
            let summary = await dht.tableSummary()
            gauge("threads_dht_table_size", "Peers in the DHT routing table.", summary.size)
            gauge("threads_dht_provider_records", "Provider records this node stores.", summary.providerRecords)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
