import Multiformats
import Sodium
import Testing
import Transport

@Suite(.timeLimit(.minutes(5))) struct NoiseHandshakeTests {
    /// Runs a full XX handshake between two in-memory parties.
    static func handshake(
        initiator: inout NoiseHandshake,
        responder: inout NoiseHandshake
    ) throws -> (NoiseSession, NoiseSession) {
        try responder.readMessage(initiator.writeMessage())
        try initiator.readMessage(responder.writeMessage())
        try responder.readMessage(initiator.writeMessage())
        return (try initiator.session(), try responder.session())
    }

    @Test func bothSidesProveTheirIdentitiesAndTalk() throws {
        let alice = Ed25519.PrivateKey()
        let bob = Ed25519.PrivateKey()
        var initiator = NoiseHandshake(role: .initiator, identity: alice, expectedPeer: bob.publicKey.peerID)
        var responder = NoiseHandshake(role: .responder, identity: bob)
        var (a, b) = try Self.handshake(initiator: &initiator, responder: &responder)
        #expect(a.remotePeer == bob.publicKey.peerID)
        #expect(b.remotePeer == alice.publicKey.peerID)
        #expect(a.handshakeHash == b.handshakeHash)
        for i in 0..<50 {
            let message = Array("message \(i)".utf8)
            #expect(try b.decrypt(a.encrypt(message)) == message)
            #expect(try a.decrypt(b.encrypt(message + [1])) == message + [1])
        }
    }

    @Test func dialingTheWrongPeerFails() throws {
        let impostor = Ed25519.PrivateKey()
        let expected = Ed25519.PrivateKey().publicKey.peerID
        var initiator = NoiseHandshake(role: .initiator, identity: Ed25519.PrivateKey(), expectedPeer: expected)
        var responder = NoiseHandshake(role: .responder, identity: impostor)
        try responder.readMessage(initiator.writeMessage())
        #expect(throws: TransportError.peerMismatch(expected: expected, actual: impostor.publicKey.peerID)) {
            try initiator.readMessage(responder.writeMessage())
        }
        // A failed handshake stays failed.
        #expect(throws: TransportError.self) { try initiator.writeMessage() }
    }

    @Test func tamperedHandshakeMessagesAreRejected() throws {
        for index in [1, 2] {
            for position in [0, 40, 70] {
                var initiator = NoiseHandshake(role: .initiator, identity: Ed25519.PrivateKey())
                var responder = NoiseHandshake(role: .responder, identity: Ed25519.PrivateKey())
                try responder.readMessage(initiator.writeMessage())
                var second = try responder.writeMessage()
                if index == 1 { second[position] ^= 1 }
                if index == 1 {
                    #expect(throws: TransportError.self) { try initiator.readMessage(second) }
                    continue
                }
                try initiator.readMessage(second)
                var third = try initiator.writeMessage()
                third[position] ^= 1
                #expect(throws: TransportError.self) { try responder.readMessage(third) }
            }
        }
    }

    @Test func truncatedAndOutOfOrderMessagesFailCleanly() throws {
        var initiator = NoiseHandshake(role: .initiator, identity: Ed25519.PrivateKey())
        var responder = NoiseHandshake(role: .responder, identity: Ed25519.PrivateKey())
        #expect(throws: TransportError.self) { try initiator.readMessage([1, 2, 3]) }
        #expect(throws: TransportError.self) { try responder.writeMessage() }
        let first = try initiator.writeMessage()
        for cut in 0..<first.count {
            var fresh = NoiseHandshake(role: .responder, identity: Ed25519.PrivateKey())
            #expect(throws: TransportError.self) { try fresh.readMessage(Array(first.prefix(cut))) }
        }
        try responder.readMessage(first)
        let second = try responder.writeMessage()
        for cut in stride(from: 0, to: second.count, by: 7) {
            var copy = initiator
            #expect(throws: TransportError.self) { try copy.readMessage(Array(second.prefix(cut))) }
        }
        #expect(throws: TransportError.self) { try initiator.session() }
    }

    @Test func transportRejectsReplayTamperingAndOversize() throws {
        var initiator = NoiseHandshake(role: .initiator, identity: Ed25519.PrivateKey())
        var responder = NoiseHandshake(role: .responder, identity: Ed25519.PrivateKey())
        var (a, b) = try Self.handshake(initiator: &initiator, responder: &responder)
        let first = try a.encrypt([1, 2, 3])
        #expect(try b.decrypt(first) == [1, 2, 3])
        #expect(throws: TransportError.self) { try b.decrypt(first) }  // replay: the nonce moved on
        var tampered = try a.encrypt([4, 5, 6])
        tampered[0] ^= 1
        #expect(throws: TransportError.self) { try b.decrypt(tampered) }
        #expect(throws: TransportError.self) {
            try a.encrypt([UInt8](repeating: 0, count: NoiseSession.maxPlaintext + 1))
        }
    }

    @Test func framing() throws {
        var buffer = try NoiseFrame.encode([1, 2, 3]) + NoiseFrame.encode([]) + [0x00]
        #expect(NoiseFrame.decode(&buffer) == [1, 2, 3])
        #expect(NoiseFrame.decode(&buffer) == [])
        #expect(NoiseFrame.decode(&buffer) == nil)  // one byte of a header: wait for more
        #expect(buffer == [0x00])
        #expect(throws: TransportError.self) { try NoiseFrame.encode([UInt8](repeating: 0, count: 65536)) }
    }
}
