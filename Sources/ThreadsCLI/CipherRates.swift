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

        let key = SymmetricKey()
        let nonce = [UInt8](repeating: 0, count: AEADAlgorithm.chacha20poly1305.nonceLength)
        var sealed = [UInt8](repeating: 0, count: messageLength + AEADAlgorithm.tagLength)
        var opened = [UInt8](repeating: 0, count: messageLength)
        let noData = UnsafeRawBufferPointer(start: nil, count: 0)
        let sodiumSeal = rate(rounds) {
            message.withUnsafeBytes { m in
                nonce.withUnsafeBytes { n in
                    sealed.withUnsafeMutableBytes { o in
                        _ = try? AEADAlgorithm.chacha20poly1305.seal(
                            m,
                            key: key,
                            nonce: n,
                            associatedData: noData,
                            into: o
                        )
                    }
                }
            }
        }
        let sodiumOpen = rate(rounds) {
            sealed.withUnsafeBytes { c in
                nonce.withUnsafeBytes { n in
                    opened.withUnsafeMutableBytes { o in
                        _ = try? AEADAlgorithm.chacha20poly1305.open(
                            c,
                            key: key,
                            nonce: n,
                            associatedData: noData,
                            into: o
                        )
                    }
                }
            }
        }

        let (cryptoSeal, cryptoOpen) = swiftCryptoRates(message, rounds: rounds)
        return CipherRates(
            sodiumSeal: sodiumSeal,
            sodiumOpen: sodiumOpen,
            cryptoSeal: cryptoSeal,
            cryptoOpen: cryptoOpen
        )
    }

    static func rate(_ rounds: Int, _ body: () -> Void) -> Double {
        let start = ContinuousClock.now
        for _ in 0..<rounds { body() }
        return Double(rounds * messageLength) / (ContinuousClock.now - start).seconds
    }
}
