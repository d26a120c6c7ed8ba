import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Plain TCP with blocking POSIX sockets: the baseline the exchange benchmark compares with, run as
/// separate processes (and, across network namespaces, on separate hosts) like the nodes are.
struct TCPSink: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tcp-sink")

    @Option(help: "IPv4 address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Bytes to receive.")
    var bytes: Int

    func run() throws {
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard server >= 0 else { throw CLIError("socket: \(errno)") }
        defer { close(server) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, host, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(server, 1) == 0 else { throw CLIError("cannot listen on \(host): errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(server, $0, &length) }
        }
        FileHandle.standardOutput.write(Data("port \(UInt16(bigEndian: address.sin_port))\n".utf8))
        let connection = accept(server, nil, nil)
        guard connection >= 0 else { throw CLIError("accept: \(errno)") }
        defer { close(connection) }
        let start = ContinuousClock.now
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var received = 0
        while received < bytes {
            let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += n
        }
        let elapsed = ContinuousClock.now - start
        let seconds = elapsed.seconds
        FileHandle.standardOutput.write(Data("received \(received) seconds \(seconds)\n".utf8))
    }
}

struct TCPSource: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tcp-source")

    @Option var host: String
    @Option var port: UInt16
    @Option var bytes: Int

    func run() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CLIError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw CLIError("cannot connect to \(host):\(port): errno \(errno)") }
        let chunk = [UInt8](repeating: 0x5a, count: 1 << 20)
        var sent = 0
        while sent < bytes {
            let n = chunk.withUnsafeBytes { send(fd, $0.baseAddress, min($0.count, bytes - sent), Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw CLIError("send failed: errno \(errno)") }
            sent += n
        }
    }
}
