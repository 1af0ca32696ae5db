import Net

/// One route: method, path pattern, who may call it, and its handler. `summary` documents it.
public struct APIRoute: Sendable {
    public enum Handler: Sendable {
        /// Answers on the loop at once (reads only): the fast path.
        case immediate(@Sendable (APIContext) throws(APIError) -> HTTPResponse)
        /// Runs as a task (writes, password hashing).
        case deferred(@Sendable (APIContext) async throws -> HTTPResponse)
    }

    public let method: HTTPMethod
    public let pattern: String
    public let access: Access
    public let summary: String
    /// Login-like routes share a much smaller per-IP bucket.
    public let strictRateLimit: Bool
    let handler: Handler

    init(_ method: HTTPMethod, _ pattern: String, _ access: Access, _ summary: String, strict: Bool = false,
         immediate: @escaping @Sendable (APIContext) throws(APIError) -> HTTPResponse) {
        self.method = method
        self.pattern = pattern
        self.access = access
        self.summary = summary
        strictRateLimit = strict
        handler = .immediate(immediate)
    }

    init(_ method: HTTPMethod, _ pattern: String, _ access: Access, _ summary: String, strict: Bool = false,
         deferred: @escaping @Sendable (APIContext) async throws -> HTTPResponse) {
        self.method = method
        self.pattern = pattern
        self.access = access
        self.summary = summary
        strictRateLimit = strict
        handler = .deferred(deferred)
    }
}
