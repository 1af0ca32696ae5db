import Foundation
import Glibc
import TestSupport
import Testing
@testable import Net

/// HTTPClient against a real server it did not write: Tests/Peers/http_stream_server.py.
@Suite struct HTTPClientTests {
    @Test func streamedChunksArriveBeforeTheServerSendsTheLast() throws {
        try withClient { harness in
            let recorder = harness.run(HTTPClientRequest(url: harness.url("/stream?n=5&delay=150")))
            #expect(recorder.succeeded)
            #expect(recorder.status == 200)
            let events = recorder.events
            #expect(events.count == 5)
            // Each event says when the server sent it; the first chunk must have been here before the last left.
            let lastSent = Double(events.last?.data.split(separator: " ").last ?? "") ?? 0
            let firstArrived = recorder.snapshot.chunkTimes.first ?? .infinity
            #expect(firstArrived < lastSent)
        }
    }

    @Test func aPostSendsItsHeadersAndBody() throws {
        try withClient { harness in
            let request = HTTPClientRequest(method: "POST", url: harness.url("/echo"),
                                            headers: [("X-Test", "one"), ("Content-Type", "application/json")],
                                            body: Array(#"{"hello":"world"}"#.utf8))
            let recorder = harness.run(request)
            #expect(recorder.succeeded)
            #expect(recorder.status == 200)
            #expect(recorder.snapshot.headers.contains { $0.name.lowercased() == "content-type" && $0.value == "application/json" })
            let echo = try recorder.json()
            #expect(echo["method"] as? String == "POST")
            #expect(echo["body"] as? String == #"{"hello":"world"}"#)
            let headers = (echo["headers"] as? [[String]]) ?? []
            #expect(headers.contains(["X-Test", "one"]))
            #expect(!headers.contains { $0.first?.lowercased() == "expect" })
        }
    }

    @Test func otherMethodsAndAnEmptyPostAreSentAsAsked() throws {
        try withClient { harness in
            let put = try harness.run(HTTPClientRequest(method: "PUT", url: harness.url("/echo"), body: Array("x".utf8))).json()
            #expect(put["method"] as? String == "PUT")
            #expect(put["body"] as? String == "x")
            let post = try harness.run(HTTPClientRequest(method: "POST", url: harness.url("/echo"))).json()
            #expect(post["method"] as? String == "POST")
            #expect(((post["headers"] as? [[String]]) ?? []).contains(["Content-Length", "0"]))
        }
    }

    @Test func anInterim100ContinueIsNotReportedAsTheHead() throws {
        try withClient { harness in
            let request = HTTPClientRequest(method: "POST", url: harness.url("/echo"), headers: [("Expect", "100-continue")],
                                            body: Array(repeating: UInt8(ascii: "a"), count: 2000))
            let recorder = harness.run(request)
            #expect(recorder.succeeded)
            #expect(recorder.status == 200)
            #expect(recorder.snapshot.headCount == 1)
            let echo = try recorder.json()
            #expect((echo["body"] as? String)?.count == 2000)
        }
    }

    @Test func aNonSuccessStatusIsDeliveredWithItsHeadersAndBody() throws {
        try withClient { harness in
            let recorder = harness.run(HTTPClientRequest(url: harness.url("/status?code=429&retry_after=7")))
            #expect(recorder.succeeded)
            #expect(recorder.status == 429)
            #expect(recorder.snapshot.headers.contains { $0.name == "Retry-After" && $0.value == "7" })
            #expect(recorder.bodyText == #"{"error":"slow down"}"#)
        }
    }

    @Test func twoSequentialRequestsShareOneConnection() throws {
        try withClient { harness in
            for _ in 0..<2 {
                #expect(harness.run(HTTPClientRequest(url: harness.url("/echo"))).succeeded)
            }
            let stats = try harness.peer.stats()
            #expect(stats["accepted"] == 1)
        }
    }

    /// A server that writes a response's head and body apart without TCP_NODELAY (Python's
    /// http.server here, uvicorn under the official MCP SDK) holds the body under Nagle until the
    /// head is acknowledged, and right after a request Linux delays that ACK (ping-pong mode, 40 ms
    /// or more): every exchange took 44 ms. When the head arrives the client must have left
    /// ping-pong mode (`getsockopt(TCP_QUICKACK)` reads 1 outside it), so the head is acknowledged
    /// as soon as it is read. The control does the same exchanges on a plain socket and finds it in
    /// ping-pong mode when each head arrives, so the check can fail. (After a whole exchange both
    /// read 1 again: the delayed-ACK timer leaves ping-pong mode when it fires.) The server answers
    /// 20 ms after each request, as one doing some work does, so the head comes after the client
    /// has asked curl's socket to be read.
    @Test func aResponseHeadIsAcknowledgedAtOnceNotAfterTheDelayedACKTimer() throws {
        try withClient { harness in
            let request = HTTPClientRequest(method: "POST", url: harness.url("/echo?delay=20"), body: Array("ping".utf8))
            for round in 1...4 {
                let recorder = harness.run(request)
                #expect(recorder.succeeded)
                #expect(recorder.snapshot.quickAckAtHead == 1, "round \(round): still in ping-pong mode at the head")
            }
            #expect(try harness.peer.stats()["accepted"] == 1)

            // Control: the same exchanges on a plain blocking socket, checked as each head arrives.
            let raw = try RawClient(port: harness.peer.port)
            var modes: [Int32] = []
            for _ in 1...4 {
                try raw.send("POST /echo?delay=20 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nping")
                #expect(try raw.readResponse { modes.append(quickAckMode(raw.fd)) }.status == 200)
            }
            #expect(modes.dropFirst() == [0, 0, 0], "the kernel did not delay the ACKs of a plain socket: this test proves nothing here")
        }
    }

    @Test func aClosedPortFailsWithAConnectError() throws {
        let listener = try Socket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
        let port = Socket.localAddress(listener)?.port ?? 1
        Glibc.close(listener)
        try withClient { harness in
            let recorder = harness.run(HTTPClientRequest(url: "http://127.0.0.1:\(port)/"))
            guard case .connect(let message)? = recorder.failure else {
                Issue.record("expected a connect error, got \(String(describing: recorder.failure))")
                return
            }
            #expect(message.contains("\(port)"))
            #expect(recorder.status == nil)
        }
    }

    @Test func aServerThatNeverAnswersHitsTheFirstByteTimeout() throws {
        try withClient { harness in
            let recorder = harness.run(HTTPClientRequest(url: harness.url("/stall-head"), firstByteTimeout: .milliseconds(300)))
            #expect(recorder.failure == .timeout(.firstByte))
            #expect(recorder.status == nil)
        }
    }

    @Test func aStalledStreamHitsTheIdleTimeoutAfterItsFirstBytes() throws {
        try withClient { harness in
            let recorder = harness.run(HTTPClientRequest(url: harness.url("/stall?bytes=10"), idleTimeout: .milliseconds(300)))
            #expect(recorder.failure == .timeout(.idle))
            #expect(recorder.status == 200)
            #expect(recorder.body.count == 10)
        }
    }

    @Test func aSlowStreamHitsTheTotalTimeout() throws {
        try withClient { harness in
            let start = ContinuousClock.now
            let recorder = harness.run(HTTPClientRequest(url: harness.url("/stream?n=50&delay=100"), idleTimeout: .seconds(5),
                                                         totalTimeout: .milliseconds(400)))
            #expect(recorder.failure == .timeout(.total))
            #expect(!recorder.body.isEmpty)
            #expect(ContinuousClock.now - start < .seconds(3))
        }
    }

    @Test(arguments: [true, false])
    func cancellingMidStreamCompletesWithCancelledAndClosesTheConnection(fromDelegate: Bool) throws {
        try withClient { harness in
            let recorder = Recorder(cancelOnFirstChunk: fromDelegate)
            harness.start(HTTPClientRequest(url: harness.url("/stall?bytes=10")), recorder)
            if !fromDelegate {
                #expect(recorder.waitForChunk())
                recorder.transferForCancel.withLock { $0 }?.cancel()
            }
            #expect(recorder.wait())
            #expect(recorder.failure == .cancelled)
            #expect(recorder.snapshot.completions == 1)
            #expect(recorder.body.count == 10)
            let serverSawClose = try harness.peer.waitForStat("stall_peer_closed", 1)
            #expect(serverSawClose)
        }
    }

    @Test func aConnectionDroppedMidStreamFailsWithANetworkError() throws {
        try withClient { harness in
            let recorder = harness.run(HTTPClientRequest(url: harness.url("/drop?n=2")))
            guard case .network? = recorder.failure else {
                Issue.record("expected a network error, got \(String(describing: recorder.failure))")
                return
            }
            #expect(recorder.events.count == 2)
        }
    }

    @Test func aHeaderWithANewlineIsRejectedBeforeAnythingIsSent() throws {
        try withClient { harness in
            let recorder = harness.run(HTTPClientRequest(url: harness.url("/echo"), headers: [("X-Evil", "a\r\nInjected: 1")]))
            #expect(recorder.failure == .invalidRequest("invalid value for header X-Evil"))
            let stats = try harness.peer.stats()
            #expect(stats["accepted"] == 0)
        }
    }

    @Test func fiftyConcurrentStreamsOnOneLoopAllComplete() throws {
        try withClient { harness in
            let recorders = (0..<50).map { _ in Recorder() }
            for recorder in recorders { harness.start(HTTPClientRequest(url: harness.url("/stream?n=10&delay=20")), recorder) }
            for recorder in recorders {
                #expect(recorder.wait(seconds: 30))
                #expect(recorder.succeeded)
                #expect(recorder.events.count == 10)
            }
        }
    }
}

// MARK: Harness

/// One loop on its own thread, a client on it, and a fresh peer server; all torn down at the end.
struct ClientHarness {
    let group: EventLoopGroup
    let client: HTTPClient
    let peer: StreamPeer

    var loop: EventLoop { group.loops[0] }

    func url(_ path: String) -> String { "http://127.0.0.1:\(peer.port)\(path)" }

    func start(_ request: HTTPClientRequest, _ recorder: Recorder) {
        let client = client
        loop.execute {
            let transfer = client.start(request, delegate: recorder)
            recorder.transferForCancel.withLock { $0 = transfer }
        }
    }

    /// Starts a request and waits for it to complete.
    func run(_ request: HTTPClientRequest) -> Recorder {
        let recorder = Recorder()
        start(request, recorder)
        _ = recorder.wait()
        return recorder
    }
}

/// Closes a test's client on its loop, then stops the loops.
func shutDown(_ client: HTTPClient, _ group: EventLoopGroup) {
    group.loops[0].executeAndWait { client.close() }
    group.shutdown()
}

func withClient(_ body: (ClientHarness) throws -> Void) throws {
    let peer = try StreamPeer()
    defer { peer.stop() }
    let group = try EventLoopGroup(loopCount: 1)
    let client = HTTPClient(loop: group.loops[0])
    try group.start()
    defer { shutDown(client, group) }
    try body(ClientHarness(group: group, client: client, peer: peer))
}

/// TCP_QUICKACK as Linux reports it: 1 outside ping-pong (delayed-ACK) mode, 0 inside it.
func quickAckMode(_ fd: Int32) -> Int32 {
    var value: Int32 = -1
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &value, &length) == 0 else { return -1 }
    return value
}

/// Records what a transfer delivered, for the test thread to inspect.
final class Recorder: HTTPClientDelegate, @unchecked Sendable {
    // Invariant: mutable state lives in `state` and `transferForCancel`, both behind locks; the
    // callbacks run on the loop thread and the test reads from its own.
    struct State {
        var status: Int?
        var headCount = 0
        var headers: [(name: String, value: String)] = []
        var body: [UInt8] = []
        var chunkTimes: [Double] = []
        var error: HTTPClientError??
        var completions = 0
        /// `getsockopt(TCP_QUICKACK)` on the transfer's socket when the head was delivered.
        var quickAckAtHead: Int32?
    }

    let state = Locked(State())
    let transferForCancel = Locked<HTTPClientTransfer?>(nil)
    private let done = DispatchSemaphore(value: 0)
    private let firstChunk = DispatchSemaphore(value: 0)
    private let cancelOnFirstChunk: Bool

    init(cancelOnFirstChunk: Bool = false) { self.cancelOnFirstChunk = cancelOnFirstChunk }

    func didReceiveHead(status: Int, headers: [(name: String, value: String)]) {
        let socket = transferForCancel.withLock { $0 }?.socket ?? -1
        let quickAck = socket >= 0 ? quickAckMode(socket) : nil
        state.withLock {
            $0.quickAckAtHead = quickAck
            $0.status = status
            $0.headCount += 1
            $0.headers = headers
        }
    }

    func didReceive(_ bytes: UnsafeRawBufferPointer) {
        let first = state.withLock { state in
            state.body.append(contentsOf: bytes)
            state.chunkTimes.append(Date().timeIntervalSince1970)
            return state.chunkTimes.count == 1
        }
        if first {
            firstChunk.signal()
            if cancelOnFirstChunk { transferForCancel.withLock { $0 }?.cancel() }
        }
    }

    func didComplete(_ error: HTTPClientError?) {
        state.withLock {
            $0.error = .some(error)
            $0.completions += 1
        }
        done.signal()
    }

    func wait(seconds: Int = 10) -> Bool { done.wait(timeout: .now() + .seconds(seconds)) == .success }
    func waitForChunk() -> Bool { firstChunk.wait(timeout: .now() + .seconds(10)) == .success }

    var snapshot: State { state.withLock { $0 } }
    /// True when the transfer completed without an error.
    var succeeded: Bool { snapshot.completions == 1 && snapshot.error == .some(nil) }
    /// The completion's error; nil on success or while still running.
    var failure: HTTPClientError? { snapshot.error ?? nil }
    var status: Int? { snapshot.status }
    var body: [UInt8] { snapshot.body }
    var bodyText: String { String(decoding: body, as: UTF8.self) }

    var events: [ServerSentEvent] {
        var parser = SSEParser()
        var events: [ServerSentEvent] = []
        body.withUnsafeBytes { try? parser.feed($0) { events.append($0) } }
        return events
    }

    func json() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] ?? [:]
    }
}

/// The Python peer, started on a free port and killed by PID.
final class StreamPeer: Sendable {
    let process: Process
    let port: Int

    init() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Peers.python)
        process.arguments = ["-u", Peers.script("http_stream_server.py")]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let more = out.fileHandleForReading.availableData
            if more.isEmpty { break }
            line.append(more)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            throw PeerError("http_stream_server.py printed no port")
        }
        self.process = process
        self.port = port
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// The server's counters, fetched over a connection of its own.
    func stats() throws -> [String: Int] {
        let result = try Peers.run("curl", ["-s", "http://127.0.0.1:\(port)/stats"])
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Int] ?? [:]
    }

    func waitForStat(_ name: String, _ value: Int) throws -> Bool {
        for _ in 0..<50 {
            if try stats()[name] == value { return true }
            usleep(100_000)
        }
        return false
    }
}
