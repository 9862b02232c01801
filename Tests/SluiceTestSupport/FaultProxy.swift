import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on loopback between Sluice and a server, for fault injection: it forwards every connection to
/// `127.0.0.1:targetPort` and can cut them (both sides closed at once, mid-transaction), stall them (sockets stay
/// open, no byte moves: a network partition) and slow them (a bandwidth limit).
///
/// Blocking sockets, a thread per direction: test infrastructure, not production code. @unchecked Sendable: the
/// mutable state is only touched under `condition`.
public final class FaultProxy: @unchecked Sendable {
    /// The port clients connect to.
    public let port: UInt16
    private let targetPort: UInt16
    private let listener: Int32
    private let condition = NSCondition()
    private var stalled = false
    private var bytesPerSecond: Int?
    private var sockets: Set<Int32> = []
    private var closed = false
    private var acceptedCount = 0

    public init(targetPort: UInt16) throws {
        self.targetPort = targetPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("proxy: socket() failed (errno \(errno))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw TestFailure("proxy: bind/listen failed (errno \(errno))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit { shutdown() }

    /// Connections accepted so far (a reconnect adds one).
    public var accepted: Int { condition.withLock { acceptedCount } }

    /// Closes every open connection at once; new connections are accepted as before.
    public func cut() {
        let open = condition.withLock { sockets }
        for fd in open { Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Stops moving bytes (the connections stay open) until `resume()`.
    public func stall() { condition.withLock { stalled = true } }

    /// Moves bytes again at full speed.
    public func resume() {
        condition.withLock {
            stalled = false
            bytesPerSecond = nil
            condition.broadcast()
        }
    }

    /// Limits each direction of each connection to about `bytesPerSecond`.
    public func slow(bytesPerSecond: Int) { condition.withLock { self.bytesPerSecond = bytesPerSecond } }

    /// Stops accepting and closes every connection.
    public func shutdown() {
        let open = condition.withLock { () -> Set<Int32> in
            guard !closed else { return [] }
            closed = true
            stalled = false
            condition.broadcast()
            return sockets
        }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        for fd in open { Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                close(listener)
                return
            }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            let admitted = condition.withLock { () -> Bool in
                guard !closed, connected == 0 else { return false }
                acceptedCount += 1
                sockets.formUnion([client, server])
                return true
            }
            guard admitted else {
                close(client)
                close(server)
                continue
            }
            let done = DispatchGroup()
            for (from, to) in [(client, server), (server, client)] {
                done.enter()
                Thread.detachNewThread { [self] in
                    pump(from: from, to: to)
                    done.leave()
                }
            }
            Thread.detachNewThread { [self] in
                done.wait()
                condition.withLock {
                    sockets.remove(client)
                    sockets.remove(server)
                }
                close(client)
                close(server)
            }
        }
    }

    /// Copies bytes one way until either side closes, honouring stalls and the bandwidth limit.
    private func pump(from: Int32, to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = read(from, &buffer, buffer.count)
            if count <= 0 { break }
            let limit = condition.withLock { () -> Int? in
                while stalled && !closed { condition.wait() }
                return bytesPerSecond
            }
            if let limit, limit > 0 { usleep(useconds_t(min(1_000_000, count * 1_000_000 / limit))) }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                if written <= 0 { break }
                sent += written
            }
            if sent < count { break }
        }
        Glibc.shutdown(from, Int32(SHUT_RDWR))
        Glibc.shutdown(to, Int32(SHUT_RDWR))
    }
}
