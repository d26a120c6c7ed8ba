import Multiformats

/// What went wrong in the threads layer: bad identifiers or keys, records that fail verification,
/// and store failures. Every rejection of a peer's data says which check failed.
public enum ThreadsError: Error, CustomStringConvertible, Equatable {
    case invalidThreadID(String)
    case invalidKey(String)
    /// An invite string that is not in the format of Specs/threads.md (it is pasted by people).
    case invalidInvite(String)
    /// A record, event or header that is not in the format of Specs/threads.md.
    case malformed(String)
    /// Decryption failed: the wrong key, or tampered bytes.
    case cannotDecrypt(what: String)
    case badSignature(log: PeerID)
    /// The record does not continue its log (wrong `prev`, sequence, thread or log).
    case brokenChain(String)
    case unknownThread(ThreadID)
    case unknownLog(PeerID)
    /// This node cannot do that with the keys it holds (a replica reading, a reader writing).
    case notAllowed(String)
    case store(String)

    public var description: String {
        switch self {
        case .invalidThreadID(let reason): "invalid thread ID: \(reason)"
        case .invalidKey(let reason): "invalid thread key: \(reason)"
        case .invalidInvite(let reason): "invalid invite: \(reason)"
        case .malformed(let reason): "malformed record: \(reason)"
        case .cannotDecrypt(let what): "cannot decrypt the \(what) (wrong key or tampered data)"
        case .badSignature(let log): "record signature does not verify against log \(log)"
        case .brokenChain(let reason): "record does not continue its log: \(reason)"
        case .unknownThread(let id): "unknown thread \(id)"
        case .unknownLog(let log): "unknown log \(log)"
        case .notAllowed(let reason): reason
        case .store(let reason): "store: \(reason)"
        }
    }
}
