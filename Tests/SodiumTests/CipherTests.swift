import Sodium
import Testing

@Suite struct CipherTests {
    @Test func aeadVectors() throws {
        let rows = try Vectors.rows("crypto/aead.txt")
        #expect(rows.count == 2)
        for row in rows {
            let algorithm: AEADAlgorithm = row[0] == "xchacha20poly1305" ? .xchacha20poly1305 : .chacha20poly1305
            let key = try SymmetricKey(bytes: Vectors.hex(row[1]))
            let nonce = Vectors.hex(row[2])
            let aad = Vectors.hex(row[3])
            let sealed = try algorithm.seal(Vectors.hex(row[4]), key: key, nonce: nonce, associatedData: aad)
            #expect(sealed == Vectors.hex(row[5]), "\(row[0])")
            #expect(try algorithm.open(sealed, key: key, nonce: nonce, associatedData: aad) == Vectors.hex(row[4]))
        }
    }

    @Test(arguments: [AEADAlgorithm.xchacha20poly1305, .chacha20poly1305])
    func wrongKeyNonceDataOrTamperingFails(algorithm: AEADAlgorithm) throws {
        let key = SymmetricKey()
        let nonce = Random.bytes(count: algorithm.nonceLength)
        let sealed = try algorithm.seal(Array("secret body".utf8), key: key, nonce: nonce, associatedData: [1, 2])
        #expect(throws: SodiumError.authenticationFailed) {
            try algorithm.open(sealed, key: SymmetricKey(), nonce: nonce, associatedData: [1, 2])
        }
        #expect(throws: SodiumError.authenticationFailed) {
            try algorithm.open(
                sealed,
                key: key,
                nonce: Random.bytes(count: algorithm.nonceLength),
                associatedData: [1, 2]
            )
        }
        #expect(throws: SodiumError.authenticationFailed) {
            try algorithm.open(sealed, key: key, nonce: nonce, associatedData: [1, 3])
        }
        for index in [0, sealed.count / 2, sealed.count - 1] {
            var tampered = sealed
            tampered[index] ^= 0x80
            #expect(throws: SodiumError.authenticationFailed) {
                try algorithm.open(tampered, key: key, nonce: nonce, associatedData: [1, 2])
            }
        }
        #expect(throws: SodiumError.self) { try algorithm.open(Array(sealed.prefix(15)), key: key, nonce: nonce) }
        #expect(throws: SodiumError.self) { try algorithm.seal([1], key: key, nonce: [0, 1, 2]) }
        #expect(try algorithm.open(algorithm.seal([UInt8](), key: key, nonce: nonce), key: key, nonce: nonce) == [])
    }

    @Test func randomNonceBoxes() throws {
        let key = SymmetricKey()
        let a = XChaCha20Poly1305.seal(Array("same".utf8), key: key)
        let b = XChaCha20Poly1305.seal(Array("same".utf8), key: key)
        #expect(a != b)  // fresh nonces
        #expect(try XChaCha20Poly1305.open(a, key: key) == Array("same".utf8))
        #expect(throws: SodiumError.self) { try XChaCha20Poly1305.open(Array(a.prefix(30)), key: key) }
    }

    @Test func x25519AgreementAndConversion() throws {
        let alice = X25519.PrivateKey()
        let bob = X25519.PrivateKey()
        #expect(try alice.sharedSecret(with: bob.publicKey) == (try bob.sharedSecret(with: alice.publicKey)))
        // A low-order point (all zeros) yields an all-zero secret: rejected.
        #expect(throws: SodiumError.weakSharedSecret) {
            try alice.sharedSecret(with: X25519.PublicKey(rawRepresentation: [UInt8](repeating: 0, count: 32)))
        }
        // Ed25519 identities convert to X25519 keys that agree.
        let edA = Ed25519.PrivateKey()
        let edB = Ed25519.PrivateKey()
        let s1 = try edA.x25519().sharedSecret(with: edB.publicKey.x25519())
        let s2 = try edB.x25519().sharedSecret(with: edA.publicKey.x25519())
        #expect(s1 == s2)
        #expect(try edA.x25519().publicKey == edA.publicKey.x25519())
    }

    @Test func hmacVectors() throws {
        for row in try Vectors.rows("crypto/hmac-sha256-rfc4231.txt") {
            let mac = HMACSHA256.authenticate(Vectors.hex(row[1]), key: Vectors.hex(row[0]))
            #expect(mac == Vectors.hex(row[2]))
            #expect(HMACSHA256.verify(mac, for: Vectors.hex(row[1]), key: Vectors.hex(row[0])))
            #expect(!HMACSHA256.verify(mac, for: Vectors.hex(row[1]) + [0], key: Vectors.hex(row[0])))
        }
    }

    @Test func blake2bVectors() throws {
        for row in try Vectors.rows("crypto/blake2b.txt") {
            #expect(try Blake2b.hash(Vectors.hex(row[1]), outputLength: Int(row[0])!) == Vectors.hex(row[2]))
        }
        #expect(throws: SodiumError.self) { try Blake2b.hash([1], outputLength: 8) }
        #expect(try Blake2b.hash([1], key: Random.bytes(count: 32)) != (try Blake2b.hash([1])))
    }

    @Test func constantTimeEqualAndRandom() {
        #expect(Sodium.constantTimeEqual([1, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
        #expect(!Sodium.constantTimeEqual([1, 2] as [UInt8], [1, 2, 3] as [UInt8]))
        #expect(Random.bytes(count: 32) != Random.bytes(count: 32))
        #expect(Random.bytes(count: 0).isEmpty)
    }
}
