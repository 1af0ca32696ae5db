/// Completes a request exactly once, from any thread.
public typealias HTTPHandler = @Sendable (HTTPRequest, HTTPResponder) -> Void

/// Routes by method and path. Built once before the server starts, then shared read-only by all loops.
///
/// Patterns are literal segments and `:name` parameters ("/api/v1/apps/:id/reviews"); a final `*name`
/// takes the rest of the path. HEAD falls back to GET (without the body) and OPTIONS is answered from
/// the methods a path has, unless either is registered explicitly.
public struct Router: Sendable {
    /// What a lookup found.
    public enum Match {
        case handler(HTTPHandler, parameters: [String: String])
        case webSocket(WebSocketRoute, parameters: [String: String])
        case methodNotAllowed(allowed: [HTTPMethod])
        case notFound
    }

    private enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        case rest(String)
    }

    private struct Route: Sendable {
        let method: HTTPMethod
        let segments: [Segment]
        let handler: HTTPHandler?
        let webSocket: WebSocketRoute?
    }

    private var routes: [Route] = []

    public init() {}

    /// Registers a handler that completes through its responder, possibly later and on another thread.
    public mutating func add(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping HTTPHandler) {
        routes.append(Route(method: method, segments: Router.parse(pattern), handler: handler, webSocket: nil))
    }

    /// Registers a handler that answers at once.
    public mutating func add(_ method: HTTPMethod, _ pattern: String,
                             immediate handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        add(method, pattern) { request, responder in responder.respond(handler(request)) }
    }

    public mutating func get(_ pattern: String, _ handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        add(.get, pattern, immediate: handler)
    }

    public mutating func post(_ pattern: String, _ handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        add(.post, pattern, immediate: handler)
    }

    /// Registers a WebSocket endpoint (GET with an upgrade handshake).
    public mutating func webSocket(_ pattern: String, _ route: WebSocketRoute) {
        routes.append(Route(method: .get, segments: Router.parse(pattern), handler: nil, webSocket: route))
    }

    /// Finds the route for a request.
    public func match(method: HTTPMethod, path: String) -> Match {
        let parts = Router.split(path)
        var allowed: [HTTPMethod] = []
        var fallback: Match?
        for index in routes.indices {
            // Shape first (literals and length, no allocation), so the ~100 routes of the API cost
            // string compares, not a parameter dictionary each.
            guard Router.fits(routes[index].segments, parts) else { continue }
            let route = routes[index]
            guard let parameters = Router.bind(route.segments, to: parts) else { continue }
            if route.method == method {
                if let ws = route.webSocket { return .webSocket(ws, parameters: parameters) }
                if let handler = route.handler { return .handler(handler, parameters: parameters) }
            }
            if method == .head && route.method == .get, let handler = route.handler, fallback == nil {
                fallback = .handler(handler, parameters: parameters)
            }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        if let fallback { return fallback }
        if allowed.isEmpty { return .notFound }
        if allowed.contains(.get) && !allowed.contains(.head) { allowed.append(.head) }
        if !allowed.contains(.options) { allowed.append(.options) }
        return .methodNotAllowed(allowed: allowed)
    }

    private static func parse(_ pattern: String) -> [Segment] {
        split(pattern).map { part in
            if part.hasPrefix(":") { return .parameter(String(part.dropFirst())) }
            if part.hasPrefix("*") { return .rest(String(part.dropFirst())) }
            return .literal(part)
        }
    }

    private static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    private static func fits(_ segments: [Segment], _ parts: [String]) -> Bool {
        var index = 0
        for segment in segments {
            switch segment {
            case .literal(let text):
                guard index < parts.count, parts[index] == text else { return false }
            case .parameter:
                guard index < parts.count else { return false }
            case .rest:
                return true
            }
            index += 1
        }
        return index == parts.count
    }

    private static func bind(_ segments: [Segment], to parts: [String]) -> [String: String]? {
        var parameters: [String: String] = [:]
        var index = 0
        for segment in segments {
            switch segment {
            case .literal(let text):
                guard index < parts.count, parts[index] == text else { return nil }
            case .parameter(let name):
                guard index < parts.count, let value = PercentDecoding.decode(parts[index]) else { return nil }
                parameters[name] = value
            case .rest(let name):
                parameters[name] = parts[index...].joined(separator: "/")
                return parameters
            }
            index += 1
        }
        return index == parts.count ? parameters : nil
    }
}

/// Completes one request. Safe to call from any thread; only the first call counts.
public struct HTTPResponder: Sendable {
    private let target: ResponderTarget

    init(session: HTTPSession, sequence: Int) {
        target = ResponderTarget(session: session, loop: session.connection.loop, sequence: sequence)
    }

    public func respond(_ response: HTTPResponse) {
        let target = self.target
        if target.loop.inLoop {
            target.session.complete(response, sequence: target.sequence)
        } else {
            target.loop.execute { target.session.complete(response, sequence: target.sequence) }
        }
    }
}

/// The session a responder completes, reachable only on its loop.
private struct ResponderTarget: @unchecked Sendable {
    // Invariant: `session` is dereferenced only on `loop`'s thread (respond() hops there first).
    // Strong: a responder that outlives its connection keeps a closed session alive, and `complete`
    // ignores it; a weak reference would slow every retain of every session (side table).
    let session: HTTPSession
    let loop: EventLoop
    let sequence: Int
}
