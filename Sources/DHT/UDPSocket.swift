import Multiformats
import NIOCore
import NIOPosix

/// A bound UDP socket on SwiftNIO's `DatagramBootstrap`.
public final class UDPSocket: DatagramSocket {
    public let localEndpoint: UDPEndpoint
    public let inbound: AsyncStream<Datagram>
    private let channel: any Channel

    /// Largest datagram read from the socket; anything longer arrives truncated and fails the
    /// size check above this layer.
    static let receiveBufferSize = 16 * 1024
    /// Datagrams waiting for the node when it falls behind; more are dropped (UDP may lose them).
    static let queueLength = 4096
    /// SO_RCVBUF asked of the kernel (it may cap it at net.core.rmem_max).
    static let receiveSocketBuffer = 1 << 20

    private init(channel: any Channel, local: UDPEndpoint, inbound: AsyncStream<Datagram>) {
        self.channel = channel
        self.localEndpoint = local
        self.inbound = inbound
    }

    /// Binds `/ip4|ip6/<host>/udp/<port>` (port 0 picks a free one).
    public static func bind(
        _ address: Multiaddr,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> UDPSocket {
        let endpoint = try UDPEndpoint(address)
        let (stream, continuation) = AsyncStream.makeStream(
            of: Datagram.self,
            bufferingPolicy: .bufferingNewest(queueLength)
        )
        let channel: any Channel
        do {
            channel = try await DatagramBootstrap(group: group)
                // No SO_REUSEADDR: on UDP it lets the kernel hand one port to two sockets, and
                // datagrams then reach only one of them (UDP has no TIME_WAIT to work around).
                // Bursts of answers (α requests from several lookups) must not overflow the kernel's
                // default receive buffer while the event loop is busy.
                .channelOption(.socketOption(.so_rcvbuf), value: receiveSocketBuffer)
                .channelOption(
                    .recvAllocator,
                    value: FixedSizeRecvByteBufferAllocator(capacity: receiveBufferSize)
                )
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(InboundHandler(continuation: continuation))
                    }
                }
                .bind(to: try endpoint.socketAddress())
                .get()
        } catch {
            continuation.finish()
            if (error as? IOError)?.errnoCode == EADDRINUSE { throw DHTError.addressInUse("\(address)") }
            throw DHTError.socket("cannot bind \(address): \(error)")
        }
        guard let local = channel.localAddress, let bound = try? UDPEndpoint(local) else {
            try? await channel.close()
            continuation.finish()
            throw DHTError.socket("bound \(address) but cannot read the local address")
        }
        return UDPSocket(channel: channel, local: bound, inbound: stream)
    }

    public func send(_ bytes: [UInt8], to endpoint: UDPEndpoint) {
        guard let address = try? endpoint.socketAddress() else { return }
        let envelope = AddressedEnvelope(remoteAddress: address, data: channel.allocator.buffer(bytes: bytes))
        channel.writeAndFlush(envelope, promise: nil)
    }

    public func close() async {
        try? await channel.close()
    }

    private final class InboundHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let continuation: AsyncStream<Datagram>.Continuation

        init(continuation: AsyncStream<Datagram>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            guard let source = try? UDPEndpoint(envelope.remoteAddress) else { return }
            continuation.yield(Datagram(bytes: Array(envelope.data.readableBytesView), source: source))
        }

        func channelInactive(context: ChannelHandlerContext) {
            continuation.finish()
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // ICMP port-unreachable and similar errors on a UDP socket concern one datagram only.
        }
    }
}
