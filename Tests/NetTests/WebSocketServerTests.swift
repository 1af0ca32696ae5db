import Glibc
import Testing
@testable import Net

/// The WebSocket server over real sockets: handshake validation, close codes, keepalive, backpressure.
@Suite struct WebSocketServerTests {
    @Test func acceptsAValidHandshakeWithTheRFCAcceptValue() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            let response = try client.upgrade()
            #expect(response.status == 101)
            // The example from RFC 6455 §1.3.
            #expect(response.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            #expect(response.header("Upgrade") == "websocket")
        }
    }

    @Test(arguments: [
        ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400),   // no key
        ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n", 400),
        ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n", 426),
        ("Connection: keep-alive\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", 426),
        ("Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", 400),
    ])
    func refusesInvalidHandshakes(headers: String, status: Int) throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /ws/echo HTTP/1.1\r\nHost: x\r\n\(headers)\r\n")
            let response = try client.readResponse()
            #expect(response.status == status)
            if status == 426 { #expect(response.header("Sec-WebSocket-Version") == "13") }
        }
    }

    @Test func refusesAnOriginTheHookRejects() throws {
        try withTestServer(configure: { $0.originCheck = { $0 == "https://good.example" } }) { server in
            let bad = try RawClient(port: server.port)
            #expect(try bad.upgrade(extraHeaders: "Origin: https://evil.example\r\n").status == 403)
            let good = try RawClient(port: server.port)
            #expect(try good.upgrade(extraHeaders: "Origin: https://good.example\r\n").status == 101)
        }
    }

    @Test func negotiatesTheFirstSubprotocolTheServerPrefers() throws {
        try withTestServer(routes: { router in
            router.webSocket("/ws/chat", WebSocketRoute(subprotocols: ["builderai.v1", "other"], requiresSubprotocol: true) { _, _ in
                EchoWebSocket()
            })
        }) { server in
            let client = try RawClient(port: server.port)
            let response = try client.upgrade(path: "/ws/chat", extraHeaders: "Sec-WebSocket-Protocol: other, builderai.v1\r\n")
            #expect(response.status == 101)
            #expect(response.header("Sec-WebSocket-Protocol") == "builderai.v1")
            let refused = try RawClient(port: server.port)
            #expect(try refused.upgrade(path: "/ws/chat", extraHeaders: "Sec-WebSocket-Protocol: nope\r\n").status == 400)
        }
    }

    @Test func echoesTextBinaryAndFragmentedMessagesWithInterleavedPing() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            #expect(try client.upgrade().status == 101)
            try client.sendText("héllo")
            let text = try client.readFrame()
            #expect(text.opcode == 1 && text.fin && String(decoding: text.payload, as: UTF8.self) == "héllo")
            let big = (0..<70_000).map { UInt8(truncatingIfNeeded: $0) }
            try client.sendFrame(opcode: 2, payload: big)
            let binary = try client.readFrame()
            #expect(binary.opcode == 2 && binary.payload == big)
            // "é" split across fragments, with a ping between them.
            try client.sendFrame(opcode: 1, payload: [0x61, 0xC3], fin: false)
            try client.sendFrame(opcode: 9, payload: Array("p".utf8))
            try client.sendFrame(opcode: 0, payload: [0xA9, 0x62], fin: true)
            let pong = try client.readFrame()
            #expect(pong.opcode == 10 && pong.payload == Array("p".utf8))
            let joined = try client.readFrame()
            #expect(joined.opcode == 1 && String(decoding: joined.payload, as: UTF8.self) == "aéb")
        }
    }

    /// Each violation must close with its code (RFC 6455 §7.4.1) and then end the TCP connection.
    @Test(arguments: [
        (UInt8(1), [UInt8](repeating: 0x61, count: 3), UInt8(0), false, true, UInt16(1002)),  // unmasked
        (UInt8(1), Array("a".utf8), UInt8(0b010), true, true, UInt16(1002)),                 // RSV2
        (UInt8(1), Array("a".utf8), UInt8(0b100), true, true, UInt16(1002)),                 // RSV1 without deflate
        (UInt8(3), Array("a".utf8), UInt8(0), true, true, UInt16(1002)),                     // reserved opcode
        (UInt8(9), [UInt8](repeating: 0, count: 126), UInt8(0), true, true, UInt16(1002)),  // ping > 125 bytes
        (UInt8(9), Array("a".utf8), UInt8(0), true, false, UInt16(1002)),                    // fragmented ping
        (UInt8(0), Array("a".utf8), UInt8(0), true, true, UInt16(1002)),                     // continuation first
        (UInt8(1), [0xC0, 0xAF], UInt8(0), true, true, UInt16(1007)),                        // overlong UTF-8
        (UInt8(8), [0x03, 0xED], UInt8(0), true, true, UInt16(1002)),                        // close code 1005
        (UInt8(8), [0x03], UInt8(0), true, true, UInt16(1002)),                              // 1-byte close
        (UInt8(8), [0x03, 0xE8, 0xFF], UInt8(0), true, true, UInt16(1007)),                  // close reason not UTF-8
    ])
    func failsTheConnectionWithTheRightCloseCode(opcode: UInt8, payload: [UInt8], rsv: UInt8, masked: Bool, fin: Bool,
                                                 expected: UInt16) throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            #expect(try client.upgrade().status == 101)
            try client.sendFrame(opcode: opcode, payload: payload, fin: fin, rsv: rsv, masked: masked)
            let close = try client.readFrame()
            #expect(close.opcode == 8)
            #expect(close.closeCode == expected)
            #expect(try client.isClosedByServer())
        }
    }

    @Test func closesWith1009WhenAMessageExceedsTheLimit() throws {
        try withTestServer(configure: { $0.webSocket.maxMessageBytes = 1000 }) { server in
            let client = try RawClient(port: server.port)
            #expect(try client.upgrade().status == 101)
            try client.sendFrame(opcode: 2, payload: [UInt8](repeating: 1, count: 600), fin: false)
            try client.sendFrame(opcode: 0, payload: [UInt8](repeating: 1, count: 600), fin: true)
            let close = try client.readFrame()
            #expect(close.closeCode == 1009)
        }
    }

    @Test func answersACloseWithTheSameCodeAndEndsTheConnection() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            #expect(try client.upgrade().status == 101)
            try client.sendClose(code: 4001, reason: "bye")
            let close = try client.readFrame()
            #expect(close.opcode == 8 && close.closeCode == 4001)
            #expect(try client.isClosedByServer())
        }
    }

    @Test func pingsAQuietClientAndClosesItWith1001WhenItStaysSilent() throws {
        try withTestServer(configure: {
            $0.webSocket.pingInterval = .milliseconds(100)
            $0.webSocket.idleTimeout = .milliseconds(400)
        }) { server in
            let client = try RawClient(port: server.port)
            #expect(try client.upgrade().status == 101)
            let ping = try client.readFrame()
            #expect(ping.opcode == 9)
            var frame = try client.readFrame()
            while frame.opcode == 9 { frame = try client.readFrame() }
            #expect(frame.opcode == 8 && frame.closeCode == 1001)
        }
    }

    @Test func dropsTheConnectionWhenTheClientNeverAnswersOurClose() throws {
        try withTestServer(configure: {
            $0.webSocket.pingInterval = .milliseconds(50)
            $0.webSocket.idleTimeout = .milliseconds(100)
            $0.webSocket.closeTimeout = .milliseconds(200)
        }) { server in
            let client = try RawClient(port: server.port)
            #expect(try client.upgrade().status == 101)
            var frame = try client.readFrame()
            while frame.opcode == 9 { frame = try client.readFrame() }
            #expect(frame.closeCode == 1001)
            let start = MonotonicClock.now()
            #expect(try client.isClosedByServer())
            #expect(MonotonicClock.now() - start >= 150_000_000)
        }
    }

    @Test func keepsAClientThatAnswersPingsAlive() throws {
        try withTestServer(configure: {
            $0.webSocket.pingInterval = .milliseconds(50)
            $0.webSocket.idleTimeout = .milliseconds(300)
        }) { server in
            let client = try RawClient(port: server.port)
            #expect(try client.upgrade().status == 101)
            let start = MonotonicClock.now()
            while MonotonicClock.now() - start < 700_000_000 {
                let frame = try client.readFrame()
                #expect(frame.opcode == 9)
                try client.sendFrame(opcode: 10, payload: frame.payload)
            }
            try client.sendText("still here")
            var frame = try client.readFrame()
            while frame.opcode == 9 { frame = try client.readFrame() }
            #expect(String(decoding: frame.payload, as: UTF8.self) == "still here")
        }
    }

    @Test func closesAClientThatStopsReadingWith1008() throws {
        try withTestServer(configure: { $0.webSocket.maxSendQueueBytes = 64 * 1024 }) { server in
            let client = try RawClient(port: server.port, timeout: 10)
            #expect(try client.upgrade().status == 101)
            // 24 MiB of echoes the client does not read: more than loopback's kernel buffers (about
            // 10 MiB at most with autotuning) and the queue hold together.
            let chunk = [UInt8](repeating: 7, count: 64 * 1024)
            for _ in 0..<384 { try client.sendFrame(opcode: 2, payload: chunk, maskKey: [0, 0, 0, 0]) }
            var frame = try client.readFrame()
            var echoes = 0
            while frame.opcode == 2 {
                echoes += 1
                frame = try client.readFrame()
            }
            #expect(frame.opcode == 8 && frame.closeCode == 1008)
            #expect(echoes < 384)
            #expect(try client.isClosedByServer())
        }
    }

    @Test func closesOpenWebSocketsWith1001OnShutdown() throws {
        let server = try TestServer()
        let client = try RawClient(port: server.port)
        #expect(try client.upgrade().status == 101)
        let stopper = try startThread(name: "stopper") { server.stop() }
        let close = try client.readFrame()
        #expect(close.opcode == 8 && close.closeCode == 1001)
        try client.sendClose(code: 1001)
        pthread_join(stopper, nil)
        #expect(server.server.connectionCount == 0)
    }

    @Test func rejectsACompressionBombWith1009() throws {
        try withTestServer(configure: { $0.webSocket.maxMessageBytes = 64 * 1024 }) { server in
            let client = try RawClient(port: server.port)
            let response = try client.upgrade(extraHeaders: "Sec-WebSocket-Extensions: permessage-deflate\r\n")
            #expect(response.header("Sec-WebSocket-Extensions")?.hasPrefix("permessage-deflate") == true)
            let zeros = [UInt8](repeating: 0, count: 10_000_000)
            let bomb = zeros.withUnsafeBytes { PerMessageDeflate(options: PerMessageDeflateOptions(), role: .client).compress($0) }
            #expect(bomb.count < 20_000)
            try client.sendFrame(opcode: 2, payload: bomb, rsv: 0b100)
            let close = try client.readFrame()
            #expect(close.closeCode == 1009)
        }
    }
}
