import NIOCore

/// A datagram and where it came from.
public struct Datagram: Sendable {
    public let bytes: [UInt8]
    public let source: UDPEndpoint

    public init(bytes: [UInt8], source: UDPEndpoint) {
        self.bytes = bytes
        self.source = source
    }
}

/// Where a DHT node sends and receives datagrams: a UDP socket (`UDPSocket`) or, in tests and
/// simulations, an in-memory network (`MemoryNetwork`). Everything above this is the same code.
public protocol DatagramSocket: Sendable {
    /// The endpoint this socket is bound to.
    var localEndpoint: UDPEndpoint { get }
    /// Datagrams as they arrive. Iterated by one task only.
    var inbound: AsyncStream<Datagram> { get }
    /// Sends without waiting; UDP may lose it anyway.
    func send(_ bytes: [UInt8], to endpoint: UDPEndpoint)
    func close() async
}
