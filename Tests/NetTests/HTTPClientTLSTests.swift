import Foundation
import Glibc
import TestSupport
import Testing
@testable import Net

/// HTTPClient over TLS against a peer it did not write: hypercorn serving HTTP/2 with a throwaway CA
/// (Tests/Peers/fake_openai_h2.py). What these pin down: https:// negotiates HTTP/2, concurrent
/// streams to one origin share one connection, certificates are verified (and `caBundlePath` is how
/// a private CA is trusted), and names are resolved by curl's asynchronous resolver.
@Suite struct HTTPClientTLSTests {
    @Test func aStreamedCompletionArrivesIntactOverHTTP2() throws {
        try withTLSClient { harness in
            let result = harness.run(harness.completion("https://127.0.0.1:\(harness.peer.port)/v1/chat/completions"))
            #expect(result.recorder.succeeded)
            #expect(result.recorder.status == 200)
            #expect(result.version == HTTPVersion(major: 2, minor: 0), "the client negotiated \(String(describing: result.version))")
            let events = result.recorder.events
            #expect(events.count == 8)
            #expect(events.last?.data == "[DONE]")
            #expect(deltas(events) == "Hello from the fake OpenAI.")
            #expect(events.dropLast().last?.data.contains(#""usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}"#) == true)

            let request = try #require(try harness.peer.recordedRequests().first)
            #expect(request["http_version"] as? String == "2", "the server saw HTTP/\(request["http_version"] ?? "?")")
            #expect(request["scheme"] as? String == "https")
            #expect(request["path"] as? String == "/v1/chat/completions")
            #expect((request["body"] as? [String: Any])?["model"] as? String == "gpt-test")
        }
    }

    @Test func concurrentStreamsToOneOriginShareOneConnection() throws {
        let count = 8
        try withTLSClient { harness in
            // The peer holds every response until all eight requests are in flight, so they cannot
            // have taken turns on one connection: either they overlapped or the barrier times out.
            var barrier = harness.completion("https://127.0.0.1:\(harness.peer.port)/v1/chat/completions")
            barrier.headers.append((name: "X-Fake-Barrier", value: "\(count)"))
            let request = barrier
            let recorders = (0..<count).map { _ in Recorder() }
            let client = harness.client
            harness.onLoop {
                for recorder in recorders {
                    recorder.transferForCancel.withLock { $0 = client.start(request, delegate: recorder) }
                }
            }
            for recorder in recorders {
                #expect(recorder.wait(seconds: 20))
                #expect(recorder.succeeded)
                #expect(deltas(recorder.events) == "Hello from the fake OpenAI.")
            }
            let versions = harness.onLoop { recorders.map { $0.transferForCancel.withLock { $0 }?.httpVersion } }
            #expect(versions.allSatisfy { $0 == HTTPVersion(major: 2, minor: 0) })

            let requests = try harness.peer.recordedRequests()
            #expect(requests.count == count)
            #expect(requests.allSatisfy { $0["http_version"] as? String == "2" })
            #expect(requests.allSatisfy { $0["barrier_met"] as? Bool == true }, "the streams did not overlap")
            let ports = Set(requests.compactMap { $0["client_port"] as? Int })
            #expect(ports.count == 1, "\(count) streams used \(ports.count) connections")
        }
    }

    /// Without the CA (libcurl's default bundle) or with the wrong one, the handshake must fail at
    /// once with a connect error that says why, not hang and not deliver anything.
    @Test(arguments: [false, true])
    func aCertificateTheClientDoesNotTrustIsRefused(trustingAnotherCA: Bool) throws {
        let peer = try TLSProviderPeer()
        defer { peer.stop() }
        try withTLSClient(peer: peer, trust: trustingAnotherCA ? .file(peer.otherCAPath) : .libcurlDefaults) { harness in
            let start = ContinuousClock.now
            let result = harness.run(harness.completion("https://localhost:\(peer.port)/v1/chat/completions"))
            #expect(ContinuousClock.now - start < .seconds(5))
            guard case .connect(let message)? = result.recorder.failure else {
                Issue.record("expected a connect error, got \(String(describing: result.recorder.snapshot.error))")
                return
            }
            #expect(message.contains("certificate"), "\(message)")
            #expect(result.recorder.status == nil)
            #expect(result.recorder.body.isEmpty)
            let requests = try peer.recordedRequests()
            #expect(requests.isEmpty)
        }
    }

    @Test func aCertificateForAnotherNameIsRefusedEvenFromATrustedCA() throws {
        let peer = try TLSProviderPeer(names: ["localhost"])
        defer { peer.stop() }
        try withTLSClient(peer: peer) { harness in
            let result = harness.run(harness.completion("https://127.0.0.1:\(peer.port)/v1/chat/completions"))
            guard case .connect(let message)? = result.recorder.failure else {
                Issue.record("expected a connect error, got \(String(describing: result.recorder.snapshot.error))")
                return
            }
            #expect(message.contains("127.0.0.1"), "\(message)")
            let requests = try peer.recordedRequests()
            #expect(requests.isEmpty)
        }
    }

    @Test func aCABundleThatCannotBeReadFailsTheConnectNotTheProcess() throws {
        let peer = try TLSProviderPeer()
        defer { peer.stop() }
        try withTLSClient(peer: peer, trust: .file("/nonexistent/builderai-ca.pem")) { harness in
            let result = harness.run(harness.completion("https://localhost:\(peer.port)/v1/chat/completions"))
            guard case .connect(let message)? = result.recorder.failure else {
                Issue.record("expected a connect error, got \(String(describing: result.recorder.snapshot.error))")
                return
            }
            #expect(message.contains("/nonexistent/builderai-ca.pem"), "\(message)")
        }
    }

    /// curl's threaded resolver (or c-ares) keeps DNS off the loop; a libcurl without one would
    /// block every stream on the loop during each lookup.
    @Test func libcurlResolvesNamesAsynchronouslyAndAHostNameWorksFromTheLoop() throws {
        #expect(HTTPClient.resolvesAsynchronously)
        try withTLSClient { harness in
            let result = harness.run(harness.completion("https://localhost:\(harness.peer.port)/v1/chat/completions"))
            #expect(result.recorder.succeeded, "\(String(describing: result.recorder.snapshot.error))")
            #expect(deltas(result.recorder.events) == "Hello from the fake OpenAI.")
            #expect(result.version == HTTPVersion(major: 2, minor: 0))
            let request = try #require(try harness.peer.recordedRequests().first)
            #expect((request["headers"] as? [String: String])?["host"] == "localhost:\(harness.peer.port)")
        }
    }

    /// curl answers `localhost` itself (RFC 6761) without calling the resolver, so the resolver
    /// thread is exercised with a name only the system resolver can answer: one under `.invalid`
    /// (RFC 6761: never resolves). The lookup runs on curl's resolver thread, which wakes the loop
    /// through a socket; if the loop ignored that socket or curl's timers, the call would hang.
    @Test func aNameLookupRunsOnTheResolverThreadAndItsFailureIsAConnectError() throws {
        try withTLSClient { harness in
            let name = "builderai-\(UInt32.random(in: 0...UInt32.max)).invalid"
            let result = harness.run(harness.completion("https://\(name):\(harness.peer.port)/v1/chat/completions"))
            guard case .connect(let message)? = result.recorder.failure else {
                Issue.record("expected a connect error, got \(String(describing: result.recorder.snapshot.error))")
                return
            }
            #expect(message.contains(name), "\(message)")
            #expect((try? harness.peer.recordedRequests())?.isEmpty == true, "the lookup failed, so nothing may reach the peer")
        }
    }
}

// MARK: Harness

/// The text of an OpenAI stream's `choices[0].delta.content` pieces.
private func deltas(_ events: [ServerSentEvent]) -> String {
    events.compactMap { event -> String? in
        guard let object = try? JSONSerialization.jsonObject(with: Data(event.data.utf8)) as? [String: Any],
              let choice = (object["choices"] as? [[String: Any]])?.first,
              let delta = choice["delta"] as? [String: Any] else { return nil }
        return delta["content"] as? String
    }.joined()
}

struct TLSClientHarness {
    let group: EventLoopGroup
    let client: HTTPClient
    let peer: TLSProviderPeer

    /// A streamed chat completion request, as an OpenAI-compatible provider would get it.
    func completion(_ url: String) -> HTTPClientRequest {
        HTTPClientRequest(method: "POST", url: url,
                          headers: [("Content-Type", "application/json"), ("Accept", "text/event-stream")],
                          body: Array(#"{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"Hello"}]}"#.utf8),
                          connectTimeout: .seconds(5), totalTimeout: .seconds(20))
    }

    @discardableResult
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        group.loops[0].executeAndWait(body)
    }

    /// Runs one request to its end; also returns the HTTP version the transfer reported.
    func run(_ request: HTTPClientRequest) -> (recorder: Recorder, version: HTTPVersion?) {
        let recorder = Recorder()
        let client = client
        onLoop { recorder.transferForCancel.withLock { $0 = client.start(request, delegate: recorder) } }
        _ = recorder.wait(seconds: 20)
        let version = onLoop { recorder.transferForCancel.withLock { $0 }?.httpVersion }
        return (recorder, version)
    }
}

/// What the client trusts.
enum TLSTrust {
    case peerCA, libcurlDefaults
    case file(String)
}

/// One loop with a client that trusts what `trust` says and a peer (a fresh one unless given); all
/// torn down at the end.
func withTLSClient(peer given: TLSProviderPeer? = nil, trust: TLSTrust = .peerCA,
                   _ body: (TLSClientHarness) throws -> Void) throws {
    let peer = try given ?? TLSProviderPeer()
    defer { if given == nil { peer.stop() } }
    let group = try EventLoopGroup(loopCount: 1)
    let caBundle: String? = switch trust {
    case .peerCA: peer.caPath
    case .libcurlDefaults: nil
    case .file(let path): path
    }
    let client = HTTPClient(loop: group.loops[0], caBundlePath: caBundle)
    try group.start()
    defer { shutDown(client, group) }
    try body(TLSClientHarness(group: group, client: client, peer: peer))
}
