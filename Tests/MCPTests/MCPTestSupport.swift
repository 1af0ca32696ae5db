import Dispatch
import Foundation
import Net
import TestSupport
@testable import MCP

/// One event loop on its own thread for a test; `run` hands a body to the loop and blocks the test
/// thread until the body reports its result (or the deadline passes, which fails the test).
final class LoopHarness: @unchecked Sendable {
    // Invariant: `group` is immutable; everything run on the loop goes through `run`.
    let group: EventLoopGroup
    var loop: EventLoop { group.loops[0] }
    private(set) lazy var client = HTTPClient(loop: loop)

    init() throws {
        group = try EventLoopGroup(loopCount: 1)
        try group.start()
    }

    struct Timeout: Error, CustomStringConvertible {
        var seconds: Double
        var description: String { "nothing came back within \(seconds) s" }
    }

    func run<T: Sendable>(timeout: Double = 30, _ body: @escaping @Sendable (_ done: @escaping (T) -> Void) -> Void) throws -> T {
        let box = Locked<T?>(nil)
        let finished = DispatchSemaphore(value: 0)
        loop.execute {
            body { value in
                let first = box.withLock { stored -> Bool in
                    guard stored == nil else { return false }
                    stored = value
                    return true
                }
                if first { finished.signal() }
            }
        }
        guard finished.wait(timeout: .now() + timeout) == .success, let value = box.withLock({ $0 }) else {
            throw Timeout(seconds: timeout)
        }
        return value
    }

    deinit {
        let closed = DispatchSemaphore(value: 0)
        let client = self.client
        loop.execute {
            client.close()
            closed.signal()
        }
        _ = closed.wait(timeout: .now() + 5)
        group.shutdown()
    }
}

/// A session over stdio to a real server, started through the harness.
final class StdioSession: @unchecked Sendable {
    // Invariant: `connection` is touched only on the harness loop (through `harness.run`).
    let harness: LoopHarness
    let connection: MCPConnection
    let transport: StdioTransport
    let info: MCPServerInfo

    init(_ harness: LoopHarness, executable: String, arguments: [String], protocolVersion: String? = nil,
         initializeTimeout: Duration = .seconds(20), requestTimeout: Duration = .seconds(20),
         environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.harness = harness
        let transport = StdioTransport(loop: harness.loop,
                                       process: ChildProcessOptions(executable: executable, arguments: arguments,
                                                                    environment: environment),
                                       logName: "test")
        let connection = MCPConnection(loop: harness.loop, transport: transport,
                                       options: MCPConnectionOptions(protocolVersion: protocolVersion,
                                                                     initializeTimeout: initializeTimeout,
                                                                     requestTimeout: requestTimeout, logName: "test"))
        self.transport = transport
        self.connection = connection
        info = try harness.run { done in connection.connect(done) }.get()
        _ = try harness.run { [self] (done: @escaping (Bool) -> Void) in
            connection.delegate = self
            done(true)
        }
    }

    func tools() throws -> [MCPTool] {
        try harness.run { [connection] done in connection.listTools(done) }.get()
    }

    func call(_ name: String, _ arguments: JSONValue = .object([:]), timeout: Duration? = nil) throws -> Result<MCPToolResult, MCPError> {
        try harness.run { [connection] done in connection.callTool(name: name, arguments: arguments, timeout: timeout, done) }
    }

    /// Closes the session (child: stdin closed, then TERM, then KILL) and waits until it ended.
    func close() {
        guard !closed.withLock({ $0 }) else { return }
        _ = try? harness.run(timeout: 10) { [self] (done: @escaping (Bool) -> Void) in
            guard connection.state != .closed else { return done(true) }
            onClose.withLock { $0 = done }
            connection.close(grace: .milliseconds(500))
        }
    }

    private let closed = Locked(false)
    private let onClose = Locked<((Bool) -> Void)?>(nil)
    /// Tool list changes seen so far.
    let toolChanges = Locked(0)
    deinit { close() }
}

extension StdioSession: MCPConnectionDelegate {
    func connectionToolsChanged(_ connection: MCPConnection) { toolChanges.withLock { $0 += 1 } }
    func connection(_ connection: MCPConnection, didClose error: MCPTransportError?) {
        closed.withLock { $0 = true }
        onClose.withLock { $0 }?(true)
    }
}

enum TestPeers {
    static var python: String { Peers.python }
    static var testServer: String { Peers.script("mcp_test_server.py") }
    static var silentServer: String { Peers.script("mcp_silent_server.py") }
}

extension JSONValue {
    static func args(_ members: [String: JSONValue]) -> JSONValue { .object(members) }
}
