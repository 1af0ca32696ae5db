import CSystem
import Glibc

/// An IPv4 or IPv6 socket address.
public struct SocketAddress: Sendable, CustomStringConvertible {
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    /// Parses a numeric host ("127.0.0.1", "::1") or resolves a name ("localhost") at start-up.
    public init(host: String, port: Int) throws(SystemError) {
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            withUnsafeBytes(of: v4) { src in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            withUnsafeBytes(of: v6) { src in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            // Name resolution blocks; it is only done here, before any loop runs.
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, String(port), &hints, &result)
            guard rc == 0, let first = result else {
                throw SystemError("cannot resolve host '\(host)'", code: EINVAL)
            }
            defer { freeaddrinfo(result) }
            withUnsafeMutableBytes(of: &storage) { dst in
                dst.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
            }
            length = first.pointee.ai_addrlen
        }
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    var family: Int32 { Int32(storage.ss_family) }

    /// The port in host byte order.
    public var port: Int {
        // sin_port and sin6_port share offset 2.
        withUnsafeBytes(of: storage) { raw in
            Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
        }
    }

    /// "host:port", with brackets for IPv6.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        var copy = storage
        let host: String = withUnsafeMutableBytes(of: &copy) { raw in
            if family == AF_INET6 {
                let addr = raw.baseAddress! + MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr)!
                inet_ntop(AF_INET6, addr, &buffer, socklen_t(buffer.count))
                return "[" + cString(buffer) + "]"
            }
            let addr = raw.baseAddress! + MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_addr)!
            inet_ntop(AF_INET, addr, &buffer, socklen_t(buffer.count))
            return cString(buffer)
        }
        return "\(host):\(port)"
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}

/// Thin wrappers over socket system calls, all non-blocking and close-on-exec.
public enum Socket {
    /// Fails with EADDRINUSE when anything already listens on `address`.
    ///
    /// SO_REUSEPORT would let a second server with the same uid silently share the port, so a probe
    /// socket without it binds first: on Linux that fails whenever a listener exists, while
    /// SO_REUSEADDR still lets us past TIME_WAIT leftovers of a previous run.
    public static func ensurePortFree(_ address: SocketAddress) throws(SystemError) {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        defer { Glibc.close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
        let rc = address.withSockaddr { bind(fd, $0, $1) }
        guard rc == 0 else { throw SystemError("bind \(address)") }
    }

    /// A listening socket with SO_REUSEPORT, so that every loop can own one for the same port.
    public static func listen(on address: SocketAddress, backlog: Int32 = 4096) throws(SystemError) -> Int32 {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(4))
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(4))
        let rc = address.withSockaddr { bind(fd, $0, $1) }
        guard rc == 0 else {
            let error = SystemError("bind \(address)")
            Glibc.close(fd)
            throw error
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let error = SystemError("listen \(address)")
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    /// The address a socket is bound to (to learn the port after binding port 0).
    public static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutableBytes(of: &storage) { raw in
            getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        return rc == 0 ? SocketAddress(storage: storage, length: length) : nil
    }

    /// Accepts one pending connection; nil when none is waiting (EAGAIN) or on a transient error.
    static func accept(_ listener: Int32) -> (fd: Int32, peer: SocketAddress)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutableBytes(of: &storage) { raw in
            accept4(listener, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length,
                    Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        }
        guard fd >= 0 else { return nil }
        return (fd, SocketAddress(storage: storage, length: length))
    }

    /// Starts a non-blocking connect; completion is signalled by writability (check `pendingError`).
    public static func connect(to address: SocketAddress) throws(SystemError) -> Int32 {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if rc != 0 && errno != EINPROGRESS {
            let error = SystemError("connect \(address)")
            Glibc.close(fd)
            throw error
        }
        setNoDelay(fd)
        return fd
    }

    /// SO_ERROR: 0 when a non-blocking connect succeeded.
    public static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(4)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    /// Disables Nagle: chat deltas and echoes are small and latency-bound.
    public static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(4))
    }

    /// Raises the soft open-file limit to the hard limit; servers and the load generator need many fds.
    @discardableResult
    public static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(limit.rlim_cur)
    }
}

/// A NUL-terminated C buffer as a String.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
