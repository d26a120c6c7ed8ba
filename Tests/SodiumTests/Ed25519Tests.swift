import Multiformats
import Testing
import ThreadsTestKit

@testable import Sodium

@Suite struct Ed25519Tests {
    @Test func rfc8032Vectors() throws {
        let rows = try Vectors.rows("crypto/ed25519-rfc8032.txt")
        #expect(rows.count == 3)
        for row in rows {
            let key = try Ed25519.PrivateKey(seed: Vectors.hex(row[0]))
            #expect(key.publicKey.rawRepresentation == Vectors.hex(row[1]))
            let message = Vectors.hex(row[2])
            let signature = key.signature(for: message)
            #expect(signature == Vectors.hex(row[3]))
            #expect(key.publicKey.isValidSignature(signature, for: message))
        }
    }

    /// Appends sign with swift-crypto, and peers verify with libsodium: both must make the same
    /// deterministic signature for every key and message, of every length.
    @Test func bothSignersAgree() throws {
        for length in [0, 1, 31, 64, 160, 1000, 4096] {
            let key = Ed25519.PrivateKey()
            #expect(key.signsWithSwiftCrypto)
            let message = Random.bytes(count: length)
            let signature = key.signature(for: message)
            #expect(signature == key.sodiumSignature(for: message))
            #expect(key.publicKey.isValidSignature(signature, for: message))
            let again = try Ed25519.PrivateKey(seed: key.seed)
            #expect(again.signature(for: message) == signature)
        }
    }

    @Test func signatureOverAlteredDataIsRejected() throws {
        let key = Ed25519.PrivateKey()
        let message = Array("a record".utf8)
        let signature = key.signature(for: message)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        #expect(!key.publicKey.isValidSignature(signature, for: Array("a recorD".utf8)))
        var forged = signature
        forged[10] ^= 0x01
        #expect(!key.publicKey.isValidSignature(forged, for: message))
        #expect(!Ed25519.PrivateKey().publicKey.isValidSignature(signature, for: message))
        #expect(!key.publicKey.isValidSignature(Array(signature.prefix(63)), for: message))
    }

    /// The libp2p spec's Ed25519 key vector: protobuf private key -> the matching public key.
    @Test func libp2pProtobufVector() throws {
        let keys = try Vectors.rows("peer-id/keys.txt")
        let privateHex = try #require(keys.first { $0[0] == "ed25519-private-key" })[1]
        let publicHex = try #require(keys.first { $0[0] == "ed25519-public-key" })[1]
        let key = try Ed25519.PrivateKey(protobufBytes: Vectors.hex(privateHex))
        #expect(key.publicKey.protobufBytes == Vectors.hex(publicHex))
        #expect(key.protobufBytes.unsafeCopy == Vectors.hex(privateHex))
        #expect(try Ed25519.PublicKey(protobufBytes: Vectors.hex(publicHex)) == key.publicKey)
        #expect(key.publicKey.peerID == (try PeerID(publicKeyProtobuf: Vectors.hex(publicHex))))
    }

    @Test func protobufRejectsBadInput() throws {
        let key = Ed25519.PrivateKey()
        var bytes = key.protobufBytes.unsafeCopy
        // Another key's public half: inconsistent.
        var mismatched = bytes
        mismatched.replaceSubrange(36..<68, with: Ed25519.PrivateKey().publicKey.rawRepresentation)
        #expect(throws: SodiumError.inconsistentKeyPair) { try Ed25519.PrivateKey(protobufBytes: mismatched) }
        // RSA type, truncated, trailing field, empty.
        bytes[1] = 0
        #expect(throws: SodiumError.unsupportedKeyType(0)) { try Ed25519.PrivateKey(protobufBytes: bytes) }
        #expect(throws: SodiumError.self) {
            try Ed25519.PrivateKey(protobufBytes: key.protobufBytes.unsafeCopy.dropLast())
        }
        #expect(throws: SodiumError.self) {
            try Ed25519.PrivateKey(protobufBytes: key.protobufBytes.unsafeCopy + [0x18, 0x01])
        }
        #expect(throws: SodiumError.self) { try Ed25519.PublicKey(protobufBytes: []) }
        for cut in 0..<36 {
            #expect(throws: SodiumError.self) {
                try Ed25519.PublicKey(protobufBytes: Array(key.publicKey.protobufBytes.prefix(cut)))
            }
        }
    }

    @Test func mangledProtobufKeysFailCleanly() throws {
        var rng = SeededGenerator(seed: 55)
        let key = Ed25519.PrivateKey()
        let publicBytes = key.publicKey.protobufBytes
        let privateBytes = key.protobufBytes.unsafeCopy
        for _ in 0..<4000 {
            do {
                let parsed = try Ed25519.PublicKey(protobufBytes: rng.mangled(publicBytes))
                #expect(try Ed25519.PublicKey(protobufBytes: parsed.protobufBytes) == parsed)
            } catch {
                // typed throws: a SodiumError is the only other outcome
            }
            do {
                // A private key parses only when its public half matches its seed.
                let parsed = try Ed25519.PrivateKey(protobufBytes: rng.mangled(privateBytes))
                #expect(try parsed.publicKey == Ed25519.PrivateKey(seed: parsed.seed.unsafeCopy).publicKey)
            } catch {
                // typed throws: a SodiumError is the only other outcome
            }
        }
    }

    @Test func secretsNeverPrint() {
        let key = Ed25519.PrivateKey()
        let seedHex = key.seed.unsafeCopy.map { String(format: "%02x", $0) }.joined()
        for text in [key.description, String(describing: key), key.seed.description, "\(key.protobufBytes)"] {
            #expect(!text.contains(seedHex))
            #expect(!text.lowercased().contains(seedHex.prefix(16)))
        }
        #expect(key.seed.description == "<redacted 32 bytes>")
    }

    @Test func seedIsDeterministic() throws {
        let seed = Random.bytes(count: 32)
        #expect(try Ed25519.PrivateKey(seed: seed).publicKey == (try Ed25519.PrivateKey(seed: seed).publicKey))
        #expect(throws: SodiumError.self) { try Ed25519.PrivateKey(seed: Random.bytes(count: 31)) }
    }
}
