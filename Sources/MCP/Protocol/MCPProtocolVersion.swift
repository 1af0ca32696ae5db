/// The MCP revisions this client speaks, and which era each belongs to.
///
/// Modern revisions (2026-07-28 on) are stateless: every request carries its version and our
/// capabilities in `_meta`, and `server/discover` replaces the handshake. Legacy revisions open a
/// session with `initialize`. We prefer the newest modern revision and fall back to the newest
/// legacy one the server accepts; see `MCPConnection` for the probe.
public enum MCPProtocolVersion {
    public static let modern: [String] = ["2026-07-28"]
    /// Newest first: what we offer in `initialize`, and every earlier revision still in use that we accept back.
    public static let legacy: [String] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    public static let newest = modern[0]
    public static let newestLegacy = legacy[0]

    public static func isModern(_ version: String) -> Bool { modern.contains(version) }
    public static func isKnown(_ version: String) -> Bool { modern.contains(version) || legacy.contains(version) }
}

/// How a session with one server runs: stateless per-request metadata, or an `initialize`d session.
public enum MCPEra: String, Sendable, Equatable {
    case modern, legacy
}
