import Net

/// Where a server stands, as the API and the router see it.
public enum MCPServerState: String, Sendable, Equatable {
    /// Not started (startAtBoot false) or stopped by an admin.
    case stopped
    /// Starting or reconnecting: the handshake is under way.
    case connecting
    case healthy
    /// Connected, but health checks are slow or failing: used only when no healthy replica is left.
    case degraded
    /// No session: waiting to reconnect, or given up on after a crash loop until its next attempt.
    case down

    var takesCalls: Bool { self == .healthy || self == .degraded }
}

/// One health check's outcome (also emitted on every state change), for `mcp_health` and the API.
public struct MCPHealthReport: Sendable, Equatable {
    public var server: String
    /// Unix milliseconds.
    public var at: Int64
    public var state: MCPServerState
    public var latencyMs: Double?
    public var error: String?
}

/// A snapshot of one server, safe to read from any thread.
public struct MCPServerStatus: Sendable, Equatable {
    public var name: String
    public var group: String
    public var transport: MCPTransportKind
    public var state: MCPServerState
    public var protocolVersion: String?
    public var era: MCPEra?
    public var serverName: String?
    public var tools: [MCPTool]
    /// Smoothed health-check latency.
    public var latencyMs: Double?
    public var inFlight: Int
    public var breakerOpen: Bool
    /// Times the session was re-established after a failure (crashes, lost connections).
    public var restarts: Int
    /// Ended unexpectedly too often lately: retried only at the longest backoff.
    public var crashLoop: Bool = false
    public var lastError: String?
    /// Health checks of the last hour, oldest first.
    public var recentChecks: [MCPHealthReport]
}
