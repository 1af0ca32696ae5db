import Glibc
@testable import Net

/// Errors a test client can hit; tests fail with them rather than hang.
struct ClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A parsed HTTP response as seen by a client.
struct ClientResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A frame as seen by a client (server frames are never masked).
struct ClientFrame {
    var fin: Bool
    var rsv1: Bool
    var opcode: UInt8
    var payload: [UInt8]
    var closeCode: UInt16? {
        guard opcode == 8, payload.count >= 2 else { return nil }
        return UInt16(payload[0]) << 8 | UInt16(payload[1])
    }
}

/// A blocking TCP client with a receive timeout, for driving the server byte by byte in tests.
final class RawClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, timeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw ClientError("connect failed: errno \(errno)")
        }
        setTimeout(timeout)
    }

    deinit { close(fd) }

    func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ClientError("send failed: errno \(errno)") }
            offset += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads more bytes into the buffer; false on EOF.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { return false }
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { throw ClientError("timed out waiting for the server") }
            if errno == ECONNRESET { return false }
            throw ClientError("recv failed: errno \(errno)")
        }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// True when the server closed the connection (EOF or reset) before sending anything more.
    func isClosedByServer() throws -> Bool {
        if !buffer.isEmpty { return false }
        return try !fill()
    }

    func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw ClientError("connection closed after \(buffer.count) of \(count) bytes") }
        }
        let out = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return out
    }

    /// Reads up to and including CRLFCRLF.
    func readHead() throws -> String {
        while true {
            if let end = find([13, 10, 13, 10]) {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                return head
            }
            guard try fill() else { throw ClientError("connection closed before a response head") }
        }
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for i in 0...(buffer.count - needle.count) where buffer[i] == needle[0] && Array(buffer[i..<i + needle.count]) == needle {
            return i
        }
        return nil
    }

    /// Reads one response framed by Content-Length (or none); `headRequest` skips the body.
    /// `atHead` runs once the head has arrived, before the body is read.
    func readResponse(headRequest: Bool = false, atHead: () -> Void = {}) throws -> ClientResponse {
        let head = try readHead()
        atHead()
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw ClientError("bad status line: \(head)") }
        let headers = lines.map { line -> (String, String) in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]).trimmingSpaces() : "")
        }
        var response = ClientResponse(status: status, headers: headers, body: [])
        if !headRequest, status >= 200, let length = response.header("Content-Length").flatMap(Int.init), length > 0 {
            response.body = try readExactly(length)
        }
        return response
    }

    /// Sends one masked frame.
    /// A zero `maskKey` is legal on the wire and lets bulk tests skip the per-byte XOR.
    func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, masked: Bool = true,
                   maskKey: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]) throws {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | rsv << 4 | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payload.count < 126 {
            frame.append(maskBit | UInt8(payload.count))
        } else if payload.count < 65536 {
            frame.append(maskBit | 126)
            frame.append(contentsOf: [UInt8(payload.count >> 8), UInt8(payload.count & 0xff)])
        } else {
            frame.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((payload.count >> shift) & 0xff)) }
        }
        if masked {
            frame.append(contentsOf: maskKey)
            if maskKey == [0, 0, 0, 0] {
                frame.append(contentsOf: payload)
            } else {
                frame.append(contentsOf: payload.enumerated().map { $0.element ^ maskKey[$0.offset % 4] })
            }
        } else {
            frame.append(contentsOf: payload)
        }
        try send(frame)
    }

    func sendText(_ text: String) throws { try sendFrame(opcode: 1, payload: Array(text.utf8)) }

    func sendClose(code: UInt16, reason: String = "") throws {
        try sendFrame(opcode: 8, payload: [UInt8(code >> 8), UInt8(code & 0xff)] + Array(reason.utf8))
    }

    /// Reads one frame from the server.
    func readFrame() throws -> ClientFrame {
        let head = try readExactly(2)
        var length = Int(head[1] & 0x7f)
        if length == 126 {
            let ext = try readExactly(2)
            length = Int(ext[0]) << 8 | Int(ext[1])
        } else if length == 127 {
            let ext = try readExactly(8)
            length = ext.reduce(0) { $0 << 8 | Int($1) }
        }
        if head[1] & 0x80 != 0 { throw ClientError("server frame was masked") }
        return ClientFrame(fin: head[0] & 0x80 != 0, rsv1: head[0] & 0x40 != 0, opcode: head[0] & 0x0f,
                           payload: try readExactly(length))
    }

    /// Performs a WebSocket handshake on /ws/echo (or `path`) and checks the 101.
    func upgrade(path: String = "/ws/echo", extraHeaders: String = "") throws -> ClientResponse {
        try send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(extraHeaders)\r\n")
        return try readResponse()
    }
}
