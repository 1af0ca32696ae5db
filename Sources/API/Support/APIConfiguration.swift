import Net

/// Settings of the REST API.
public struct APIConfiguration: Sendable {
    public var version = "0.1.0"
    /// HS256 key for access tokens (at least 32 bytes).
    public var jwtKey: [UInt8]
    public var accessTokenSeconds: Int64 = 900
    public var refreshTokenSeconds: Int64 = 30 * 24 * 3600
    public var passwordIterations = PasswordHasher.defaultIterations
    /// Origins allowed to call the API from a browser (exact match, like "https://app.example.com").
    public var corsOrigins: Set<String> = []
    public var rateLimit = RateLimitConfiguration()
    /// Issues a single-use WebSocket ticket for a user (the chat engine's), when chat is served.
    public var issueChatTicket: (@Sendable (String) -> String)?
    /// The MCP fleet, for the admin routes and readiness.
    public var mcp: (any MCPAdministration)?

    public init(jwtKey: [UInt8]) {
        self.jwtKey = jwtKey
    }
}

/// Who may call a route.
public enum Access: String, Sendable {
    /// No token needed.
    case anyone
    /// Any signed-in, enabled account; project routes check the project role themselves.
    case user
    /// Server administrators only.
    case admin
}
