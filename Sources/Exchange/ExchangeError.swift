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
    /// No block of the DAG under the root arrived for the given time.
    case stalled(CID, after: Duration)
    /// A file DAG node that is not what `threads add` writes.
    case notAFile(CID, reason: String)
    /// A block of a file DAG whose size is not the one its parent's link declares.
    case sizeMismatch(CID, declared: UInt64, actual: UInt64)
    /// Reading or writing a local file failed.
    case io(String)

    public var description: String {
        switch self {
        case .malformed(let reason): "malformed exchange message: \(reason)"
        case .corruptBlock(let cid, let peer): "block \(cid) from \(peer) does not match its CID"
        case .notFound(let cid): "no peer or provider has \(cid)"
        case .cancelled: "the fetch was cancelled"
        case .stalled(let cid, let after):
            "no block of \(cid) arrived for \(after): the peers asked for it do not answer"
        case .notAFile(let cid, let reason): "\(cid) is not a file DAG: \(reason)"
        case .sizeMismatch(let cid, let declared, let actual):
            "\(cid) holds \(actual) bytes of file data where its link declares \(declared)"
        case .io(let reason): reason
        }
    }
}
