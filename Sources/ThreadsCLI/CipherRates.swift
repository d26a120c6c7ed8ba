import Foundation
import Sodium

/// One core's rates (bytes per second) for the per-byte work a secure transfer cannot skip:
/// ChaCha20-Poly1305 sealing and opening, through both libraries on this machine, on in-cache
/// Noise-sized messages with no I/O.
///
/// They bound a benchmark from above: a transfer that must seal every byte at one end and open it
/// at the other spends at least `1/bestSeal + 1/bestOpen` seconds of CPU per byte on that alone,
/// whichever library it uses, so the benchmarks print the ceiling this puts on their ratio to raw
/// TCP, measured in the same run.
struct CipherRates {
    var sodiumSeal: Double
    var sodiumOpen: Double
    var cryptoSeal: Double
    var cryptoOpen: Double

    var bestSeal: Double { max(sodiumSeal, cryptoSeal) }
    var bestOpen: Double { max(sodiumOpen, cryptoOpen) }

    /// The largest Noise transport payload: a 65,535-byte message less its tag.
    static let messageLength = 65519

    /// Measures each rate over about `bytes` bytes.
    static func measure(bytes total: Int) -> CipherRates {
        let message = Random.bytes(count: messageLength)
        let rounds = max(1, total / messageLength)

        var sealed = [UInt8](repeating: 0, count: messageLength + AEADAlgorithm.tagLength)
        var opened = [UInt8](repeating: 0, count: messageLength)
        let key = SymmetricKey()
        let sodiumSeal = sodiumRate(rounds, key: key, from: message, into: &sealed) {
            [cipher = AEADAlgorithm.chacha20poly1305] in
            try cipher.seal($0, key: $1, nonce: $2, associatedData: $3, into: $4)
        }
        let sodiumOpen = sodiumRate(rounds, key: key, from: sealed, into: &opened) {
            [cipher = AEADAlgorithm.chacha20poly1305] in
            try cipher.open($0, key: $1, nonce: $2, associatedData: $3, into: $4)
        }
        let (cryptoSeal, cryptoOpen) = swiftCryptoRates(message, rounds: rounds)
        return CipherRates(
            sodiumSeal: sodiumSeal,
            sodiumOpen: sodiumOpen,
            cryptoSeal: cryptoSeal,
            cryptoOpen: cryptoOpen
        )
    }

    /// One libsodium call's rate: `operation` run `rounds` times from `input` into `output`.
    private static func sodiumRate(
        _ rounds: Int,
        key: SymmetricKey,
        from input: [UInt8],
        into output: inout [UInt8],
        _ operation: (
            UnsafeRawBufferPointer, SymmetricKey, UnsafeRawBufferPointer, UnsafeRawBufferPointer,
            UnsafeMutableRawBufferPointer
        ) throws -> Int
    ) -> Double {
        let nonce = [UInt8](repeating: 0, count: AEADAlgorithm.chacha20poly1305.nonceLength)
        let noData = UnsafeRawBufferPointer(start: nil, count: 0)
        return rate(rounds) {
            input.withUnsafeBytes { i in
                nonce.withUnsafeBytes { n in
                    output.withUnsafeMutableBytes { o in _ = try? operation(i, key, n, noData, o) }
                }
            }
        }
    }

    static func rate(_ rounds: Int, _ body: () -> Void) -> Double {
        let start = ContinuousClock.now
        for _ in 0..<rounds { body() }
        return Double(rounds * messageLength) / (ContinuousClock.now - start).seconds
    }
}
