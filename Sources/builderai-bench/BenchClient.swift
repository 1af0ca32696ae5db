import CSystem
import Glibc
import Net

/// Shared state of one benchmark run, on the single load-generator loop.
final class BenchRun {
    let payloadSize: Int
    let inFlight: Int
    var measuring = false
    var completed = 0
    var errors = 0
    var latencies: [UInt32] = []   // microseconds ×10 (0.1 µs resolution), measured window only
    var established = 0
    var failedHandshakes = 0
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15

    init(payloadSize: Int, inFlight: Int) {
        self.payloadSize = payloadSize
        self.inFlight = inFlight
        latencies.reserveCapacity(4_000_000)
    }

    /// xorshift64*: mask keys must vary per frame (RFC 6455 §5.3), not be cryptographic here.
    func nextMaskKey() -> UInt32 {
        seed ^= seed >> 12
        seed ^= seed << 25
        seed ^= seed >> 27
        return UInt32(truncatingIfNeeded: (seed &* 0x2545_F491_4F6C_DD1D) >> 32)
    }
}

/// One client WebSocket: handshake, then keeps `inFlight` messages outstanding and checks each echo.
final class BenchClient: ConnectionHandler {
    let connection: Connection
    let run: BenchRun
    let path: String
    let hostHeader: String
    let echo: Bool
    private var handshakeDone = false
    private var decoder = WebSocketFrameDecoder(role: .client, maxMessageBytes: 1 << 24)
    private var sequence: UInt64 = 0
    private var expected: UInt64 = 0
    private var frame: [UInt8] = []
    private let key = "dGhlIHNhbXBsZSBub25jZQ=="

    init(connection: Connection, run: BenchRun, path: String, host: String, echo: Bool) {
        self.connection = connection
        self.run = run
        self.path = path
        self.hostHeader = host
        self.echo = echo
    }

    func start() {
        let request = "GET \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        connection.write(Array(request.utf8))
    }

    func beginEcho() {
        for _ in 0..<run.inFlight { sendNext() }
    }

    private func sendNext() {
        let size = max(run.payloadSize, 16)
        frame.removeAll(keepingCapacity: true)
        let maskKey = run.nextMaskKey()
        WebSocketFrame.appendHeader(to: &frame, fin: true, rsv1: false, opcode: .binary, length: size, maskKey: maskKey)
        let start = frame.count
        var stamp = CycleClock.now().littleEndian
        var seq = sequence.littleEndian
        withUnsafeBytes(of: &stamp) { frame.append(contentsOf: $0) }
        withUnsafeBytes(of: &seq) { frame.append(contentsOf: $0) }
        let fill = UInt8(truncatingIfNeeded: sequence)
        frame.append(contentsOf: repeatElement(fill, count: size - 16))
        frame.withUnsafeMutableBytes { raw in
            WebSocketFrame.applyMask(UnsafeMutableRawBufferPointer(rebasing: raw[start...]), key: maskKey, phase: 0)
        }
        sequence &+= 1
        connection.write(frame)
    }

    func connection(_ connection: Connection, received bytes: UnsafeMutableRawBufferPointer) -> Int {
        var offset = 0
        if !handshakeDone {
            guard let end = headerEnd(bytes) else { return 0 }
            let head = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
            guard head.hasPrefix("HTTP/1.1 101"),
                  head.contains(WebSocketHandshake.acceptValue(forKey: key)) else {
                run.failedHandshakes += 1
                connection.close()
                return bytes.count
            }
            handshakeDone = true
            run.established += 1
            offset = end
        }
        do {
            offset += try decoder.decode(UnsafeMutableRawBufferPointer(rebasing: bytes[offset...])) { event in
                guard case .message(_, let payload) = event else { return }
                self.check(payload)
            }
        } catch {
            run.errors += 1
            connection.close()
            return bytes.count
        }
        return offset
    }

    private func check(_ payload: UnsafeRawBufferPointer) {
        let now = CycleClock.now()
        guard payload.count == max(run.payloadSize, 16) else {
            run.errors += 1
            return
        }
        let stamp = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let seq = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let fill = UInt8(truncatingIfNeeded: seq)
        var intact = seq == expected
        if intact {
            for i in 16..<payload.count where payload[i] != fill {
                intact = false
                break
            }
        }
        expected &+= 1
        if !intact { run.errors += 1 }
        if run.measuring {
            run.completed += 1
            run.latencies.append(CycleClock.tenthsOfMicroseconds(now &- stamp))
        }
        if echo { sendNext() }
    }

    func connectionDrained(_ connection: Connection) {}
    func connectionReadEOF(_ connection: Connection) {
        if run.measuring { run.errors += 1 }
        connection.close()
    }
    func connectionClosed(_ connection: Connection) {}
}

/// Where an HTTP response head ends (just past its blank line), or nil while it is incomplete.
func headerEnd(_ bytes: UnsafeMutableRawBufferPointer) -> Int? {
    guard bytes.count >= 4 else { return nil }
    for i in 3..<bytes.count where bytes[i] == 10 && bytes[i - 1] == 13 && bytes[i - 2] == 10 && bytes[i - 3] == 13 {
        return i + 1
    }
    return nil
}
