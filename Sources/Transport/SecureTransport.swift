import Logging
import Multiformats
import NIOCore
import NIOPosix
import Sodium

/// An authenticated, encrypted TCP connection: a plaintext byte stream to a peer whose identity the
/// Noise handshake proved.
public struct SecureChannel: Sendable {
    /// The peer at the other end (proven, not claimed).
    public let remotePeer: PeerID
    /// Where the peer connected from or was dialled at.
    public let remoteAddress: Multiaddr?
    /// Plaintext in and out; writes are encrypted, reads decrypted, by the channel pipeline.
    /// Read from its inbound stream; send with `write(_:)`, which bounds what is queued.
    public let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private let window: WriteWindow

    /// Plaintext queued for sending at most, per connection: enough to keep the cipher and the
    /// socket busy, small enough that a slow peer holds little memory here.
    public static let writeWindow = 1 << 20

    init(remotePeer: PeerID, remoteAddress: Multiaddr?, channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        self.remotePeer = remotePeer
        self.remoteAddress = remoteAddress
        self.channel = channel
        self.window = WriteWindow(limit: Self.writeWindow)
    }

    /// Sends `buffer` (encrypted by the pipeline), waiting first while `writeWindow` bytes are
    /// still queued below; so a producer faster than the cipher or the link waits instead of
    /// filling memory. Returns once the buffer is queued; throws `connectionClosed` when an
    /// earlier write failed or the channel is closed. Writes from one task go out in order.
    public func write(_ buffer: ByteBuffer) async throws {
        guard channel.channel.isActive else { throw TransportError.connectionClosed }
        try await window.write(buffer, to: channel.channel)
    }
}

/// Listens on and dials TCP multiaddrs, securing every connection with Noise XX.
public struct SecureTransport: Sendable {
    public let identity: Ed25519.PrivateKey
    public let group: any EventLoopGroup
    /// How long a handshake may take before the connection is dropped.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Where the reasons for dropped connections are logged.
    public var logger = Logger(label: "threads.transport")

    public init(identity: Ed25519.PrivateKey, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.identity = identity
        self.group = group
    }

    /// Host and port of a `/ip4|ip6/…/tcp/…[/p2p/…]` multiaddr.
    static func endpoint(_ address: Multiaddr) throws(TransportError) -> (host: String, port: Int) {
        let parts = address.components
        guard parts.count >= 2, parts[0].proto == .ip4 || parts[0].proto == .ip6, parts[1].proto == .tcp,
            let host = parts[0].valueString, let portText = parts[1].valueString, let port = Int(portText),
            parts.dropFirst(2).allSatisfy({ $0.proto == .p2p })
        else {
            throw .unsupportedAddress(address.description)
        }
        return (host, port)
    }

    /// The multiaddr of a socket address (`/ip4/…/tcp/…` or `/ip6/…/tcp/…`).
    static func multiaddr(_ address: SocketAddress?) -> Multiaddr? {
        guard let address, let ip = address.ipAddress, let port = address.port else { return nil }
        let proto = address.protocol == .inet6 ? "ip6" : "ip4"
        return try? Multiaddr("/\(proto)/\(ip)/tcp/\(port)")
    }

    private func initialize(_ channel: any Channel, role: NoiseHandshake.Role, expectedPeer: PeerID?) throws -> (
        NIOAsyncChannel<ByteBuffer, ByteBuffer>, EventLoopFuture<NoiseHandshakeResult>
    ) {
        let handshake = NoiseHandshake(role: role, identity: identity, expectedPeer: expectedPeer)
        let noise = NoiseHandler(
            handshake: handshake,
            eventLoop: channel.eventLoop,
            timeout: handshakeTimeout,
            logger: logger
        )
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(NoiseFrameDecoder()))
        try channel.pipeline.syncOperations.addHandler(noise)
        let async = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        return (async, noise.handshakeResult)
    }

    /// Dials `address`; when it ends in `/p2p/<peer>`, the remote must prove it is that peer.
    public func dial(_ address: Multiaddr) async throws -> SecureChannel {
        let (host, port) = try Self.endpoint(address)
        let expected = address.peerID
        let (channel, result) = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.initialize(channel, role: .initiator, expectedPeer: expected)
                }
            }
        do {
            let proven = try await result.get()
            return SecureChannel(remotePeer: proven.remotePeer, remoteAddress: address, channel: channel)
        } catch {
            // An async channel must be finished before it is dropped.
            try? await channel.executeThenClose { _, _ in }
            throw error
        }
    }

    /// Binds a listener on `address` (port 0 picks a free port; `localAddress` tells which).
    public func listen(on address: Multiaddr) async throws -> SecureListener {
        let (host, port) = try Self.endpoint(address)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let (async, result) = try self.initialize(channel, role: .responder, expectedPeer: nil)
                    return PendingConnection(
                        channel: async,
                        handshake: result,
                        remoteAddress: Self.multiaddr(channel.remoteAddress)
                    )
                }
            }
        let local = Self.multiaddr(server.channel.localAddress)
        return SecureListener(server: server, localAddress: local)
    }
}

/// An accepted connection whose handshake is still running.
struct PendingConnection: Sendable {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    let handshake: EventLoopFuture<NoiseHandshakeResult>
    let remoteAddress: Multiaddr?
}

/// A bound listener. `run` accepts connections until cancelled, handing each one whose handshake
/// succeeded to the handler in its own task; failed handshakes are dropped.
public struct SecureListener: Sendable {
    let server: NIOAsyncChannel<PendingConnection, Never>
    /// The address actually bound (with the real port when 0 was asked for).
    public let localAddress: Multiaddr?

    public func run(_ handler: @escaping @Sendable (SecureChannel) async -> Void) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await pending in inbound {
                    group.addTask {
                        guard let proven = try? await pending.handshake.get() else {
                            // A failed handshake: finish the async channel before dropping it.
                            try? await pending.channel.executeThenClose { _, _ in }
                            return
                        }
                        await handler(
                            SecureChannel(
                                remotePeer: proven.remotePeer,
                                remoteAddress: pending.remoteAddress,
                                channel: pending.channel
                            )
                        )
                    }
                }
            }
        }
    }

    /// Stops accepting connections.
    public func close() async {
        try? await server.channel.close()
    }
}
