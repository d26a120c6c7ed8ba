import Foundation
import Multiformats
import Sodium
import Testing
import ThreadsTestKit
import Transport

/// An independent Noise implementation (Python's `noiseprotocol`) completes the XX handshake with
/// the libp2p identity payload against this one, in both roles, and exchanges framed, encrypted
/// messages both ways: evidence that the handshake follows the specification rather than only
/// agreeing with itself.
@Suite(.timeLimit(.minutes(5))) struct NoiseInteropTests {
    static var python: String? { ProcessInfo.processInfo.environment["THREADS_INTEROP_PYTHON"] }

    /// Runs the Python peer in `role` against a Swift handshake in the opposite role.
    static func run(pythonRole: String) throws {
        guard let python else {
            print("skipping the Noise interop test: run through `make test` (sets THREADS_INTEROP_PYTHON)")
            return
        }
        signal(SIGPIPE, SIG_IGN)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("noise_peer.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, pythonRole]
        let toPython = TestKit.pipe()
        let fromPython = TestKit.pipe()
        let errors = TestKit.pipe()
        process.standardInput = toPython
        process.standardOutput = fromPython
        process.standardError = errors
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        var inbound: [UInt8] = []
        func receive() throws -> [UInt8] {
            while true {
                if let message = NoiseFrame.decode(&inbound) { return message }
                let chunk = fromPython.fileHandleForReading.availableData
                guard !chunk.isEmpty else { throw TransportError.outOfOrder("python peer closed the stream") }
                inbound += chunk
            }
        }
        func send(_ message: [UInt8]) throws {
            try toPython.fileHandleForWriting.write(contentsOf: Data(try NoiseFrame.encode(message)))
        }

        let identity = Ed25519.PrivateKey()
        var handshake = NoiseHandshake(role: pythonRole == "initiator" ? .responder : .initiator, identity: identity)
        while !handshake.isComplete {
            if handshake.isOurTurn { try send(handshake.writeMessage()) } else { try handshake.readMessage(receive()) }
        }
        var session = try handshake.session()
        try send(session.encrypt(Array("hello from swift".utf8)))
        #expect(try session.decrypt(receive()) == Array("echo:hello from swift".utf8))
        #expect(try session.decrypt(receive()) == Array("from python".utf8))
        try toPython.fileHandleForWriting.close()
        TestKit.waitForExit(process)
        let log = String(decoding: TestKit.drain(errors, whileRunning: process), as: UTF8.self)
        #expect(process.terminationStatus == 0, "python peer failed: \(log)")
        // The identity the Python peer announced is the one the handshake proved, and the Python
        // peer verified ours.
        let lines = log.split(separator: "\n")
        #expect(lines.first.map(String.init) == TestKit.hexString(session.remoteIdentity.rawRepresentation))
        #expect(lines.last.map(String.init) == "ok " + TestKit.hexString(identity.publicKey.rawRepresentation))
    }

    // The exchange blocks on pipes: it runs on a Dispatch thread, off the concurrency pool.
    @Test func pythonInitiatorSwiftResponder() async throws {
        try await TestKit.offPool { try Self.run(pythonRole: "initiator") }
    }

    @Test func swiftInitiatorPythonResponder() async throws {
        try await TestKit.offPool { try Self.run(pythonRole: "responder") }
    }
}
