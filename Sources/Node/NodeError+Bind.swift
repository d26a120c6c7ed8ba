import DHT
import Multiformats
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension NodeError {
    /// An address this node could not bind. The usual cause, a port another process holds (most
    /// often another node started with the same defaults), is said in words with what to do,
    /// rather than as the socket call's errno.
    public static func cannotBind(_ address: Multiaddr, for purpose: String, _ error: any Error) -> NodeError {
        guard isAddressInUse(error) else { return NodeError("cannot \(purpose) on \(address): \(error)") }
        return NodeError(
            "cannot \(purpose) on \(address): the address is in use (is another threadsd running?"
                + " Give another port, or port 0 for a free one)"
        )
    }

    /// Whether `error` is a bind refused because another socket holds the address.
    public static func isAddressInUse(_ error: any Error) -> Bool {
        if case .addressInUse? = error as? DHTError { return true }
        return (error as? IOError)?.errnoCode == EADDRINUSE
    }
}
