import Foundation
import Multiformats
import Sodium

@testable import DHT

/// A network of DHT nodes on a `MemoryNetwork`, with fast timeouts.
struct SimulatedNetwork {
    let network = MemoryNetwork()
    var nodes: [DHTNode] = []
    var identities: [Ed25519.PrivateKey] = []

    static func endpoint(_ index: Int) -> UDPEndpoint {
        // 10.0.x.y: private, so the default per-range limits do not apply.
        try! UDPEndpoint(
            ip: [10, UInt8(index >> 16 & 0xff), UInt8(index >> 8 & 0xff), UInt8(index & 0xff)],
            port: 4006
        )
    }

    static func fastOptions(k: Int = 20) -> DHTNode.Options {
        var options = DHTNode.Options()
        options.table.k = k
        options.requestTimeout = .milliseconds(500)
        options.retries = 1
        return options
    }

    /// Starts `count` nodes; each bootstraps from node 0 (node 0 from nobody).
    static func make(count: Int, options: DHTNode.Options = fastOptions()) async -> SimulatedNetwork {
        var net = SimulatedNetwork()
        for index in 0..<count {
            let identity = Ed25519.PrivateKey()
            let node = DHTNode(identity: identity, socket: net.network.socket(at: endpoint(index)), options: options)
            await node.start()
            net.nodes.append(node)
            net.identities.append(identity)
        }
        let seed = net.nodes[0].localContact.multiaddr
        for node in net.nodes.dropFirst() {
            await node.bootstrap([seed])
        }
        return net
    }

    func stop() async {
        for node in nodes { await node.stop() }
    }
}
