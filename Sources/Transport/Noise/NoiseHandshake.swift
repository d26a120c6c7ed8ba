import Multiformats
import NIOCore
import Sodium

/// The Noise_XX_25519_ChaChaPoly_SHA256 handshake with libp2p-noise identity payloads.
///
/// ```
/// XX:
///   -> e
///   <- e, ee, s, es      (responder's identity payload)
///   -> s, se             (initiator's identity payload)
/// ```
///
/// A plain state machine with no I/O: the caller moves messages (each framed on the wire with a
/// 2-byte big-endian length). The initiator calls `writeMessage`, `readMessage`, `writeMessage`;
/// the responder `readMessage`, `writeMessage`, `readMessage`. Then `session()` gives the transport
/// ciphers and the remote's proven identity.
public struct NoiseHandshake: Sendable {
    public enum Role: Sendable {
        case initiator
        case responder
    }

    public static let protocolName = "Noise_XX_25519_ChaChaPoly_SHA256"
    static let dhLength = 32
    static let tagLength = 16

    public let role: Role
    private let identity: Ed25519.PrivateKey
    private let staticKey: X25519.PrivateKey
    private let expectedPeer: PeerID?
    private var ephemeral: X25519.PrivateKey?
    private var remoteEphemeral: X25519.PublicKey?
    private var remoteStatic: X25519.PublicKey?
    private var remoteIdentity: Ed25519.PublicKey?
    private var symmetric = NoiseSymmetricState(protocolName: NoiseHandshake.protocolName)
    /// Index of the next message of the pattern (0, 1, 2); 3 when complete.
    private var step = 0
    private var failed = false

    /// - Parameters:
    ///   - role: initiator (the dialler) or responder.
    ///   - identity: our Ed25519 identity, proven to the remote in the payload.
    ///   - staticKey: our Noise static key; a fresh one per connection unless given.
    ///   - expectedPeer: for a dialler, the peer ID in the dialled address: a different proven
    ///     identity fails the handshake.
    ///   - prologue: data both sides must agree on (libp2p uses none).
    public init(
        role: Role,
        identity: Ed25519.PrivateKey,
        staticKey: X25519.PrivateKey = X25519.PrivateKey(),
        expectedPeer: PeerID? = nil,
        prologue: [UInt8] = []
    ) {
        self.role = role
        self.identity = identity
        self.staticKey = staticKey
        self.expectedPeer = expectedPeer
        symmetric.mixHash(prologue)
    }

    /// Whether all three messages have been exchanged.
    public var isComplete: Bool { step == 3 }

    /// Whether the next call must be `writeMessage` (rather than `readMessage`).
    public var isOurTurn: Bool {
        guard step < 3 else { return false }
        return (step % 2 == 0) == (role == .initiator)
    }

    /// Produces the next handshake message to send.
    public mutating func writeMessage() throws(TransportError) -> [UInt8] {
        guard !failed else { throw .outOfOrder("the handshake already failed") }
        guard isOurTurn else { throw .outOfOrder("a message must be read before writing") }
        do {
            let message = try write()
            step += 1
            return message
        } catch {
            failed = true
            throw error
        }
    }

    /// Consumes the next handshake message received.
    public mutating func readMessage(_ message: [UInt8]) throws(TransportError) {
        guard !failed else { throw .outOfOrder("the handshake already failed") }
        guard !isOurTurn, step < 3 else { throw .outOfOrder("a message must be written before reading") }
        do {
            try read(message)
            step += 1
        } catch {
            failed = true
            throw error
        }
    }

    private mutating func dh(_ local: X25519.PrivateKey, _ remote: X25519.PublicKey?) throws(TransportError)
        -> SecureBytes
    {
        guard let remote else { throw .outOfOrder("missing remote key") }
        do {
            return try local.sharedSecret(with: remote)
        } catch {
            throw .malformedHandshake(message: step, reason: "\(error)")
        }
    }

    private mutating func write() throws(TransportError) -> [UInt8] {
        var out: [UInt8] = []
        switch step {
        case 0:  // -> e
            let e = X25519.PrivateKey()
            ephemeral = e
            out += e.publicKey.rawRepresentation
            symmetric.mixHash(e.publicKey.rawRepresentation)
            out += try symmetric.encryptAndHash([])
        case 1:  // <- e, ee, s, es, payload
            let e = X25519.PrivateKey()
            ephemeral = e
            out += e.publicKey.rawRepresentation
            symmetric.mixHash(e.publicKey.rawRepresentation)
            symmetric.mixKey(try dh(e, remoteEphemeral))
            out += try symmetric.encryptAndHash(staticKey.publicKey.rawRepresentation)
            symmetric.mixKey(try dh(staticKey, remoteEphemeral))
            out += try symmetric.encryptAndHash(payload)
        default:  // -> s, se, payload
            out += try symmetric.encryptAndHash(staticKey.publicKey.rawRepresentation)
            symmetric.mixKey(try dh(staticKey, remoteEphemeral))
            out += try symmetric.encryptAndHash(payload)
        }
        return out
    }

    private var payload: [UInt8] {
        NoiseHandshakePayload(identity: identity, staticKey: staticKey.publicKey).encoded
    }

    private mutating func read(_ message: [UInt8]) throws(TransportError) {
        var rest = message[...]
        func take(_ n: Int, _ what: String) throws(TransportError) -> [UInt8] {
            guard rest.count >= n else {
                throw .malformedHandshake(message: step, reason: "\(message.count) bytes is too short for \(what)")
            }
            defer { rest = rest.dropFirst(n) }
            return Array(rest.prefix(n))
        }
        switch step {
        case 0:  // -> e
            let re = try take(Self.dhLength, "an ephemeral key")
            remoteEphemeral = try! X25519.PublicKey(rawRepresentation: re)
            symmetric.mixHash(re)
            _ = try symmetric.decryptAndHash(Array(rest), stage: "handshake message 1")
        case 1:  // <- e, ee, s, es, payload
            let re = try take(Self.dhLength, "an ephemeral key")
            remoteEphemeral = try! X25519.PublicKey(rawRepresentation: re)
            symmetric.mixHash(re)
            symmetric.mixKey(try dh(ephemeral!, remoteEphemeral))
            let rs = try symmetric.decryptAndHash(
                try take(Self.dhLength + Self.tagLength, "a static key"),
                stage: "handshake message 2"
            )
            remoteStatic = try! X25519.PublicKey(rawRepresentation: rs)
            symmetric.mixKey(try dh(ephemeral!, remoteStatic))
            try acceptPayload(try symmetric.decryptAndHash(Array(rest), stage: "handshake message 2"))
        default:  // -> s, se, payload
            let rs = try symmetric.decryptAndHash(
                try take(Self.dhLength + Self.tagLength, "a static key"),
                stage: "handshake message 3"
            )
            remoteStatic = try! X25519.PublicKey(rawRepresentation: rs)
            symmetric.mixKey(try dh(ephemeral!, remoteStatic))
            try acceptPayload(try symmetric.decryptAndHash(Array(rest), stage: "handshake message 3"))
        }
    }

    private mutating func acceptPayload(_ bytes: [UInt8]) throws(TransportError) {
        let payload = try NoiseHandshakePayload(decoding: bytes)
        let identity = try payload.verify(remoteStatic: remoteStatic!.rawRepresentation)
        if let expectedPeer, identity.peerID != expectedPeer {
            throw .peerMismatch(expected: expectedPeer, actual: identity.peerID)
        }
        remoteIdentity = identity
    }

    /// The transport session, once the handshake is complete.
    public func session() throws(TransportError) -> NoiseSession {
        guard isComplete, let remoteIdentity else { throw .outOfOrder("the handshake is not complete") }
        let (initiatorToResponder, responderToInitiator) = symmetric.split()
        return NoiseSession(
            sender: role == .initiator ? initiatorToResponder : responderToInitiator,
            receiver: role == .initiator ? responderToInitiator : initiatorToResponder,
            remoteIdentity: remoteIdentity,
            handshakeHash: symmetric.handshakeHash
        )
    }
}

/// An established Noise channel: one cipher per direction and the remote's proven identity.
public struct NoiseSession: Sendable {
    private var sender: NoiseCipherState
    private var receiver: NoiseCipherState
    /// The remote's Ed25519 identity, proven during the handshake.
    public let remoteIdentity: Ed25519.PublicKey
    /// The handshake hash, identical on both sides (channel binding).
    public let handshakeHash: [UInt8]

    /// A Noise message is at most 65535 bytes, tag included.
    public static let maxPlaintext = 65535 - 16

    init(
        sender: NoiseCipherState,
        receiver: NoiseCipherState,
        remoteIdentity: Ed25519.PublicKey,
        handshakeHash: [UInt8]
    ) {
        self.sender = sender
        self.receiver = receiver
        self.remoteIdentity = remoteIdentity
        self.handshakeHash = handshakeHash
    }

    public var remotePeer: PeerID { remoteIdentity.peerID }

    /// Encrypts one transport message.
    public mutating func encrypt(_ plaintext: [UInt8]) throws(TransportError) -> [UInt8] {
        guard plaintext.count <= Self.maxPlaintext else {
            throw .messageTooLarge(size: plaintext.count, limit: Self.maxPlaintext)
        }
        return try sender.encrypt(associatedData: [], plaintext: plaintext)
    }

    /// Encrypts one transport message from `plaintext` onto the end of `out`.
    public mutating func encrypt(_ plaintext: UnsafeRawBufferPointer, appendingTo out: inout ByteBuffer)
        throws(TransportError)
    {
        guard plaintext.count <= Self.maxPlaintext else {
            throw .messageTooLarge(size: plaintext.count, limit: Self.maxPlaintext)
        }
        try sender.encrypt(plaintext, appendingTo: &out)
    }

    /// Decrypts one transport message onto the end of `out`.
    public mutating func decrypt(_ ciphertext: UnsafeRawBufferPointer, appendingTo out: inout ByteBuffer)
        throws(TransportError)
    {
        try receiver.decrypt(ciphertext, appendingTo: &out)
    }

    /// Decrypts one transport message; any change to it, or a replay or reordering, fails.
    public mutating func decrypt(_ ciphertext: [UInt8]) throws(TransportError) -> [UInt8] {
        try receiver.decrypt(associatedData: [], ciphertext: ciphertext, stage: "a transport message")
    }
}
