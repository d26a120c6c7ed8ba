import Crypto
import Foundation

extension CipherRates {
    /// swift-crypto's (BoringSSL's) seal and open rates. Its API hands back `Data`: the copies
    /// that costs are counted, as any caller would pay them.
    static func swiftCryptoRates(_ message: [UInt8], rounds: Int) -> (seal: Double, open: Double) {
        let key = SymmetricKey(size: .bits256)
        let nonce = ChaChaPoly.Nonce()
        let plaintext = Data(message)
        var box = try! ChaChaPoly.seal(plaintext, using: key, nonce: nonce)
        let seal = rate(rounds) { box = try! ChaChaPoly.seal(plaintext, using: key, nonce: nonce) }
        let open = rate(rounds) { _ = try? ChaChaPoly.open(box, using: key) }
        return (seal, open)
    }
}
