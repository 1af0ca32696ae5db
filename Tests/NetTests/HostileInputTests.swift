import Glibc
import Testing
import TestSupport
@testable import Net

/// Anything a client sends gets an answer or a close, never a crash or a leaked connection.
@Suite struct HostileInputTests {
    private static let seeds: [String] = [
        "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    ]

    /// Mutates a valid request: flips, inserts, deletes and duplicates bytes, or appends random bytes
    /// (after an upgrade they become random WebSocket frames).
    private static func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = seed
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
            let position = Int.random(in: 0..<max(1, bytes.count), using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0 where !bytes.isEmpty: bytes[position] ^= UInt8.random(in: 1...255, using: &rng)
            case 1: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: min(position, bytes.count))
            case 2 where !bytes.isEmpty: bytes.remove(at: position)
            case 3: bytes.insert(contentsOf: bytes[position...].prefix(16), at: position)
            default: bytes += (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
        }
        return bytes
    }

    @Test func survivesThousandsOfMutatedRequestsAndFrames() throws {
        try withTestServer(configure: {
            $0.headerTimeout = .milliseconds(300)
            $0.bodyTimeout = .milliseconds(300)
            $0.keepAliveTimeout = .milliseconds(300)
            $0.webSocket.idleTimeout = .milliseconds(300)
            $0.webSocket.closeTimeout = .milliseconds(200)
        }) { server in
            var rng = SplitMix64(state: 2026)
            for round in 0..<1_500 {
                let seed = Array(HostileInputTests.seeds[round % HostileInputTests.seeds.count].utf8)
                let client = try RawClient(port: server.port, timeout: 2)
                // Some sends fail once the server has closed on us: that is an answer too.
                try? client.send(HostileInputTests.mutate(seed, &rng))
                if round % 3 == 0 { try? client.send((0..<200).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
                shutdown(client.fd, Int32(SHUT_WR))
            }
            // The server still answers, and every hostile connection is gone.
            let probe = try RawClient(port: server.port)
            try probe.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try probe.readResponse().text == "hello")
            var waited = 0
            while server.server.connectionCount > 1 && waited < 300 {
                usleep(10_000)
                waited += 1
            }
            #expect(server.server.connectionCount <= 1)
        }
    }
}
