import Net
import Store
import Synchronization

/// The REST API under `/api/v1`: accounts, projects, the marketplace and administration. Every route
/// is declared once in `routes`, which both registers it and feeds the OpenAPI document.
public final class APIService: Sendable {
    public let store: Store
    public let configuration: APIConfiguration
    let signer: JWTSigner
    let hasher: PasswordHasher
    let limiter = RateLimiter()
    /// Verified credentials per loop (index = loop), so a client's every request does not pay for a
    /// hash, a token read and a user read. An entry lives `credentialCacheNanoseconds` and dies at
    /// once when this process revokes a token or disables or changes an account (`credentialEpoch`);
    /// a change made by another process is seen within that second.
    private let credentialCaches = (0..<256).map { _ in CredentialCache() }
    /// Bumped by every revocation, disabling or role change: cached credentials from an older epoch
    /// are checked again, so those take effect at once on every loop.
    private let credentialEpoch = Atomic<Int>(0)

    /// Bumped before answering any successful write through the API: a cached read from an older
    /// epoch is never served, so reads stay exact within this process (see `ReadCache`).
    let writeEpoch = Atomic<Int>(0)
    /// Per-loop caches of public read responses (index = loop).
    let readCaches = (0..<256).map { _ in ReadCache() }

    /// Call after committing anything that may turn a credential away.
    func credentialsChanged() {
        credentialEpoch.add(1, ordering: .releasing)
    }
    static let credentialCacheNanoseconds: UInt64 = 1_000_000_000
    /// Every route, for registration, the OpenAPI document and the authorization tests.
    public let routes: [APIRoute]

    public init(store: Store, configuration: APIConfiguration) {
        self.store = store
        self.configuration = configuration
        signer = JWTSigner(key: configuration.jwtKey, lifetimeSeconds: configuration.accessTokenSeconds)
        hasher = PasswordHasher(iterations: configuration.passwordIterations)
        routes = AccountRoutes.routes + ProjectRoutes.routes + MarketplaceRoutes.routes + AdminRoutes.routes
    }

    /// Adds every route to `router`, wrapped with authentication, rate limits, CORS and headers.
    public func register(on router: inout Router) {
        for route in routes {
            let metrics = RouteMetrics(route)
            router.add(route.method, route.pattern) { [self] request, responder in
                handle(route, metrics, request, responder)
            }
        }
        // CORS preflight, per path (a catch-all would turn unknown paths into 405s).
        var seen = Set<String>()
        for route in routes where seen.insert(route.pattern).inserted {
            let methods = routes.filter { $0.pattern == route.pattern }.map(\.method.rawValue).joined(separator: ", ")
            router.add(.options, route.pattern) { [self] request, responder in
                var response = HTTPResponse(status: .noContent)
                response.headers.add("Allow", methods + ", OPTIONS")
                responder.respond(finish(response, request, preflight: true))
            }
        }
        let document = OpenAPIDocument.build(routes, version: configuration.version).serialized()
        router.get("/api/v1/openapi.json") { [self] request in
            var response = HTTPResponse(status: .ok, body: document)
            response.headers.add("Content-Type", "application/json")
            return finish(response, request)
        }
        router.get("/metrics") { _ in
            var response = HTTPResponse(status: .ok, body: Array(Metrics.shared.render().utf8))
            response.headers.add("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            return response
        }
        router.add(.get, "/readyz") { [self] _, responder in
            Task(executorPreference: APIExecutor.shared) {
                var problems: [String] = []
                do {
                    _ = try await self.store.writer.write { db in try db.execute("SELECT 1") }
                } catch {
                    problems.append("the database is not writable: \(error)")
                }
                problems += self.configuration.mcp?.readinessProblems() ?? []
                let body: JSONValue = .object(["status": .string(problems.isEmpty ? "ready" : "not ready"),
                                               "problems": .array(problems.map(JSONValue.string))])
                responder.respond(Reply.json(body, status: problems.isEmpty ? .ok : HTTPStatus(503)))
            }
        }
    }

    private func handle(_ route: APIRoute, _ metrics: RouteMetrics, _ request: HTTPRequest, _ responder: HTTPResponder) {
        let started = MonotonicClock.now()
        let responder = RecordingResponder(metrics: metrics, responder: responder, started: started)
        let context: APIContext
        do {
            context = try authenticate(route, request)
        } catch {
            return responder.respond(finish(error.response, request))
        }
        switch route.handler {
        case .immediate(let body):
            let response: HTTPResponse
            do {
                response = try body(context)
            } catch {
                response = error.response
            }
            responder.respond(finish(response, request))
        case .deferred(let body):
            Task(executorPreference: APIExecutor.shared) {
                let response: HTTPResponse
                do {
                    response = try await body(context)
                } catch let error as APIError {
                    response = error.response
                } catch {
                    response = APIError.store(error).response
                }
                if response.status.code < 400 { self.writeEpoch.add(1, ordering: .releasing) }
                responder.respond(self.finish(response, request))
            }
        }
    }

    /// Checks the rate limit and the bearer token against the route's access level.
    private func authenticate(_ route: APIRoute, _ request: HTTPRequest) throws(APIError) -> APIContext {
        let address = request.remoteAddress
        let ip = address.lastIndex(of: ":").map { String(address[..<$0]) } ?? address
        let limits = configuration.rateLimit
        let credential = Self.bearer(request)
        let key = route.strictRateLimit ? "auth:" + ip : credential.map { "t:" + String($0.suffix(24)) } ?? "ip:" + ip
        let decision = route.strictRateLimit
            ? limiter.take(key, rate: limits.authRatePerSecond, burst: limits.authBurst)
            : limiter.take(key, rate: limits.ratePerSecond, burst: limits.burst)
        if case .limited(let retry) = decision {
            var headers = HTTPHeaders()
            headers.add("Retry-After", String(retry))
            headers.add("RateLimit", "limit=\(Int(route.strictRateLimit ? limits.authBurst : limits.burst)), remaining=0, reset=\(retry)")
            throw APIError(HTTPStatus(429), "too many requests; retry in \(retry) s", headers: headers)
        }
        var user: User?
        if let credential {
            user = try principal(credential, request)
        }
        switch route.access {
        case .anyone: break
        case .user:
            guard user != nil else { throw .unauthenticated }
        case .admin:
            guard let user else { throw .unauthenticated }
            guard user.role == .admin else { throw .forbidden("this route is for administrators") }
        }
        return APIContext(request: request, user: user, api: self, ip: ip)
    }

    /// The credential after "Bearer " (any case, surrounding spaces ignored). Byte-level: this runs
    /// on every request, and Character-level trimming showed up as a third of a request's cost.
    static func bearer(_ request: HTTPRequest) -> String? {
        guard let header = request.headers["Authorization"] else { return nil }
        var bytes = Substring(header).utf8[...]
        var index = bytes.startIndex
        for expected in "bearer".utf8 {
            guard index < bytes.endIndex, bytes[index] | 0x20 == expected else { return nil }
            index = bytes.index(after: index)
        }
        guard index < bytes.endIndex, bytes[index] == 0x20 else { return nil }
        bytes = bytes[index...]
        while let first = bytes.first, first == 0x20 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 { bytes = bytes.dropLast() }
        return bytes.isEmpty ? nil : String(Substring(bytes))
    }

    /// The account behind a token: a JWT access token or a personal API token.
    private func principal(_ credential: String, _ request: HTTPRequest) throws(APIError) -> User {
        let cache = credentialCaches[request.loopIndex & 255]
        let clock = MonotonicClock.now()
        let epoch = credentialEpoch.load(ordering: .acquiring)
        if let hit = cache.entries[credential], hit.until > clock, hit.epoch == epoch { return hit.user }
        let user = try verify(credential, request)
        if cache.entries.count >= 100_000 { cache.entries.removeAll(keepingCapacity: true) }
        cache.entries[credential] = (user, clock + Self.credentialCacheNanoseconds, epoch)
        return user
    }

    private func verify(_ credential: String, _ request: HTTPRequest) throws(APIError) -> User {
        let now = StoreClock.nowMilliseconds()
        let userID: String
        if credential.hasPrefix(TokenSecret.personalPrefix) {
            let hash = TokenSecret.hash(credential)
            let token: APIToken?
            do {
                token = try store.readers.read(loop: request.loopIndex) { try APIToken.find($0, tokenHash: hash) }
            } catch {
                throw APIError.store(error)
            }
            guard let token, token.kind == .personal, token.isUsable(at: now) else {
                throw APIError(HTTPStatus(401), "the API token is unknown, revoked or expired", headers: APIError.bearerChallenge)
            }
            if (token.lastUsedAt ?? 0) < now - 60_000 {
                let id = token.id
                try? store.writer.submit({ db in try APIToken.touch(db, id: id, at: now) }, completion: { _ in })
            }
            userID = token.userID
        } else {
            switch signer.verify(credential, now: now / 1000) {
            case .success(let claims): userID = claims.subject
            case .failure(.expired):
                throw APIError(HTTPStatus(401), "the access token expired; refresh it", headers: APIError.bearerChallenge)
            case .failure(.unsupportedAlgorithm):
                throw APIError(HTTPStatus(401), "only HS256 access tokens are accepted", headers: APIError.bearerChallenge)
            case .failure:
                throw APIError(HTTPStatus(401), "the access token is not valid", headers: APIError.bearerChallenge)
            }
        }
        let user: User?
        do {
            user = try store.readers.read(loop: request.loopIndex) { try User.find($0, id: userID) }
        } catch {
            throw APIError.store(error)
        }
        guard let user else { throw APIError(HTTPStatus(401), "the account no longer exists", headers: APIError.bearerChallenge) }
        guard !user.isDisabled else { throw .forbidden("the account is disabled") }
        return user
    }

    /// Security and CORS headers on every API response.
    private func finish(_ response: HTTPResponse, _ request: HTTPRequest, preflight: Bool = false) -> HTTPResponse {
        var response = response
        response.headers.replaceOrAdd("X-Content-Type-Options", "nosniff")
        response.headers.replaceOrAdd("X-Frame-Options", "DENY")
        response.headers.replaceOrAdd("Referrer-Policy", "no-referrer")
        response.headers.replaceOrAdd("Cache-Control", "no-store")
        response.headers.replaceOrAdd("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        if let origin = request.headers["Origin"], configuration.corsOrigins.contains(origin) {
            response.headers.replaceOrAdd("Access-Control-Allow-Origin", origin)
            response.headers.replaceOrAdd("Vary", "Origin")
            if preflight {
                response.headers.replaceOrAdd("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
                response.headers.replaceOrAdd("Access-Control-Allow-Headers", "Authorization, Content-Type")
                response.headers.replaceOrAdd("Access-Control-Max-Age", "600")
            }
        }
        return response
    }
}

/// A route's series, looked up once at registration (rendering labels per request was a tenth of
/// a request's cost); status counters are made on first use.
final class RouteMetrics: Sendable {
    private let labels: [(String, String)]
    let latency: Metrics.Histogram
    private let statuses = Locked<[Int: Metrics.Counter]>([:])

    init(_ route: APIRoute) {
        labels = [("method", route.method.rawValue), ("route", route.pattern)]
        latency = Metrics.shared.histogram("builderai_http_request_seconds", "HTTP API latency by route", labels: labels)
    }

    func count(_ status: Int) {
        let counter = statuses.withLock { table in
            if let counter = table[status] { return counter }
            let counter = Metrics.shared.counter("builderai_http_requests_total", "HTTP API requests by route and status",
                                                 labels: labels + [("status", String(status))])
            table[status] = counter
            return counter
        }
        counter.add()
    }
}

/// Records each response's route, status and latency in the process metrics.
private struct RecordingResponder: Sendable {
    let metrics: RouteMetrics
    let responder: HTTPResponder
    let started: UInt64

    func respond(_ response: HTTPResponse) {
        metrics.count(response.status.code)
        metrics.latency.observe(Double(MonotonicClock.now() &- started) / 1e9)
        responder.respond(response)
    }
}
