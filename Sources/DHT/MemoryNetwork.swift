import Synchronization

/// An in-memory datagram network for tests and simulations: sockets addressed by `UDPEndpoint`
/// that deliver to each other without the kernel, so hundreds of nodes run in one process with
/// exactly the DHT code a UDP socket would drive.
public final class MemoryNetwork: Sendable {
    private let state = Mutex<[UDPEndpoint: AsyncStream<Datagram>.Continuation]>([:])
    private let counter = Mutex<UInt64>(0)

    public init() {}

    /// A socket at `endpoint`; datagrams to a closed or unknown endpoint are lost.
    public func socket(at endpoint: UDPEndpoint) -> MemorySocket {
        let (stream, continuation) = AsyncStream.makeStream(of: Datagram.self, bufferingPolicy: .bufferingNewest(4096))
        state.withLock { $0[endpoint] = continuation }
        return MemorySocket(network: self, localEndpoint: endpoint, inbound: stream)
    }

    /// Datagrams sent so far on this network.
    public var datagramsSent: UInt64 { counter.withLock { $0 } }

    func deliver(_ bytes: [UInt8], from source: UDPEndpoint, to destination: UDPEndpoint) {
        counter.withLock { $0 += 1 }
        let target = state.withLock { $0[destination] }
        target?.yield(Datagram(bytes: bytes, source: source))
    }

    /// Takes `endpoint` off the network, as if its host died.
    public func disconnect(_ endpoint: UDPEndpoint) {
        let continuation = state.withLock { $0.removeValue(forKey: endpoint) }
        continuation?.finish()
    }
}

/// A socket on a `MemoryNetwork`.
public struct MemorySocket: DatagramSocket {
    let network: MemoryNetwork
    public let localEndpoint: UDPEndpoint
    public let inbound: AsyncStream<Datagram>

    public func send(_ bytes: [UInt8], to endpoint: UDPEndpoint) {
        network.deliver(bytes, from: localEndpoint, to: endpoint)
    }

    public func close() async {
        network.disconnect(localEndpoint)
    }
}
