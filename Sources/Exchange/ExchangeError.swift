import Multiformats

/// What went wrong in a block exchange.
public enum ExchangeError: Error, CustomStringConvertible, Equatable {
    /// A message that does not follow Specs/exchange.md.
    case malformed(String)
    /// A block whose bytes do not hash to its CID.
    case corruptBlock(cid: CID, from: PeerID)
    /// No peer had the block, and the DHT found no provider that did.
    case notFound(CID)
    /// The fetch was cancelled or the exchange stopped.
    case cancelled
    /// A file DAG node that is not what `threads add` writes.
    case notAFile(CID, reason: String)
    /// Reading or writing a local file failed.
    case io(String)

    public var description: String {
        switch self {
        case .malformed(let reason): "malformed exchange message: \(reason)"
        case .corruptBlock(let cid, let peer): "block \(cid) from \(peer) does not match its CID"
        case .notFound(let cid): "no peer or provider has \(cid)"
        case .cancelled: "the fetch was cancelled"
        case .notAFile(let cid, let reason): "\(cid) is not a file DAG: \(reason)"
        case .io(let reason): reason
        }
    }
}
