import Net

/// Moves JSON-RPC messages between us and one MCP server: a child's pipes (stdio), HTTP POSTs with
/// JSON or SSE answers (Streamable HTTP), or a GET stream plus POSTs (the legacy HTTP+SSE transport).
///
/// Every method is called on the transport's loop, and every delegate callback arrives there.
/// The session above it (`MCPConnection`) owns the protocol: ids, timeouts, the handshake. A
/// transport only knows enough of the protocol to route HTTP (headers, sessions, which POST carries
/// which answer).
public protocol MCPTransport: AnyObject {
    var delegate: (any MCPTransportDelegate)? { get set }
    /// Which wire this is; the session sends `notifications/cancelled` where the wire needs it.
    var kind: MCPTransportKind { get }
    /// Starts the transport (spawns the process, opens the legacy SSE stream). Failure arrives as
    /// `transportDidClose` on a later turn, never from inside the call.
    func open()
    /// Sends one message. A request's fate is always settled: by a message carrying its id, or by
    /// `requestFailed`.
    func send(_ message: JSONRPCMessage, options: MCPSendOptions)
    /// Stops waiting for a request's answer; HTTP transports close the response stream, which the
    /// 2026-07-28 revision defines as cancelling it.
    func abandon(_ id: JSONRPCID)
    /// Told once the handshake settled: HTTP transports send the version in `MCP-Protocol-Version`,
    /// and a legacy Streamable HTTP session opens its GET stream.
    func negotiated(version: String, era: MCPEra)
    /// Ends the transport: ends a legacy HTTP session with DELETE, or ends the child (stdin closed,
    /// then SIGTERM, then SIGKILL, `grace` apart). `transportDidClose` follows once it is over.
    func close(grace: Duration)
}

public enum MCPTransportKind: String, Sendable, Equatable {
    case stdio
    case streamableHTTP = "streamable-http"
    case sse
}

/// Per-message hints for the wire.
public struct MCPSendOptions: Sendable {
    /// HTTP transports add these (the `Mcp-Param-*` headers of a tool's `x-mcp-header` arguments).
    public var extraHeaders: [(name: String, value: String)]
    /// A request whose answer may take arbitrarily long (`subscriptions/listen`): no idle timeout.
    public var longLived: Bool

    public init(extraHeaders: [(name: String, value: String)] = [], longLived: Bool = false) {
        self.extraHeaders = extraHeaders
        self.longLived = longLived
    }
}

/// Why a request will get no answer. The manager retries only `notDelivered` on another replica:
/// a call that may have run must not run twice.
public enum MCPDeliveryFailure: Error, Sendable, Equatable {
    /// The server certainly never saw it (no connection, pipe closed before the write, stale session).
    case notDelivered(String)
    /// It may have been received and run (the connection broke after it was sent).
    case mayHaveBeenDelivered(String)

    public var reason: String {
        switch self {
        case .notDelivered(let reason), .mayHaveBeenDelivered(let reason): reason
        }
    }
}

/// Why a transport ended.
public enum MCPTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Could not start: spawn failed, connection refused, no `endpoint` event.
    case unavailable(String)
    /// Worked, then stopped: the process exited, the stream broke, a protocol violation on the wire.
    case lost(String)
    /// The server forgot our legacy HTTP session (404); a new session is needed, at once.
    case sessionExpired

    public var description: String {
        switch self {
        case .unavailable(let reason): "unavailable: \(reason)"
        case .lost(let reason): "connection lost: \(reason)"
        case .sessionExpired: "session expired"
        }
    }
}

public protocol MCPTransportDelegate: AnyObject {
    func transport(_ transport: any MCPTransport, didReceive message: JSONRPCMessage)
    func transport(_ transport: any MCPTransport, requestFailed id: JSONRPCID, _ failure: MCPDeliveryFailure)
    /// Exactly once per `open`; nil after a `close` we asked for. Requests still waiting are failed
    /// with `requestFailed` first.
    func transportDidClose(_ transport: any MCPTransport, error: MCPTransportError?)
}
