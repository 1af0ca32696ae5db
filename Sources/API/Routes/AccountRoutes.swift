import Net
import Store

/// Sign-up, sign-in, token refresh and sign-out, personal API tokens, and WebSocket tickets.
///
/// Access tokens are short-lived JWTs; refresh tokens (`brt_…`) are random, stored hashed, and
/// rotated on every use: presenting one that was already rotated revokes every refresh token of the
/// account (a stolen token replayed). Personal tokens (`bai_…`) are for scripts: shown once, stored
/// hashed, revocable, with their last use recorded.
enum AccountRoutes {
    static let refreshPrefix = "brt_"

    static let routes: [APIRoute] = [
        APIRoute(.post, "/api/v1/auth/register", .anyone, "Create an account and sign in", strict: true, deferred: register),
        APIRoute(.post, "/api/v1/auth/login", .anyone, "Sign in with email and password", strict: true, deferred: login),
        APIRoute(.post, "/api/v1/auth/refresh", .anyone, "Exchange a refresh token for new tokens", strict: true, deferred: refresh),
        APIRoute(.post, "/api/v1/auth/logout", .user, "Revoke a refresh token", deferred: logout),
        APIRoute(.get, "/api/v1/me", .user, "The signed-in account", immediate: me),
        APIRoute(.get, "/api/v1/tokens", .user, "List your personal API tokens", immediate: listTokens),
        APIRoute(.post, "/api/v1/tokens", .user, "Create a personal API token (shown once)", deferred: createToken),
        APIRoute(.delete, "/api/v1/tokens/:id", .user, "Revoke one of your personal API tokens", deferred: revokeToken),
        APIRoute(.post, "/api/v1/ws-tickets", .user, "A single-use ticket to open the chat WebSocket", deferred: wsTicket),
    ]

    static func userJSON(_ user: User, full: Bool = true) -> JSONValue {
        var fields: [String: JSONValue] = ["id": .string(user.id), "name": .string(user.displayName)]
        if full {
            fields["email"] = .string(user.email)
            fields["role"] = .string(user.role.rawValue)
            fields["disabled"] = .bool(user.isDisabled)
            fields["created_at"] = .int(user.createdAt)
        }
        return .object(fields)
    }

    static func validEmail(_ input: JSONInput) throws(APIError) -> String {
        let email = try input.string("email", min: 3, max: 254)
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !email.contains(where: \.isWhitespace) else {
            throw .unprocessable("\"email\" must be an address like name@example.com", field: "email")
        }
        return email
    }

    /// Issues an access token and a new refresh token (stored hashed) for `user`.
    static func session(_ context: APIContext, _ user: User, status: HTTPStatus = .ok) async throws -> HTTPResponse {
        let now = StoreClock.nowMilliseconds()
        let refresh = TokenSecret.make(prefix: refreshPrefix)
        let hash = TokenSecret.hash(refresh)
        let expires = now + context.api.configuration.refreshTokenSeconds * 1000
        let userID = user.id
        _ = try await context.write { db in
            try APIToken.insert(db, userID: userID, kind: .refresh, name: "session", tokenHash: hash, expiresAt: expires)
        }
        return tokens(context, user, refresh: refresh, status: status)
    }

    static func tokens(_ context: APIContext, _ user: User, refresh: String, status: HTTPStatus = .ok) -> HTTPResponse {
        let now = StoreClock.nowMilliseconds()
        let access = context.api.signer.sign(subject: user.id, now: now / 1000)
        return Reply.json(.object([
            "user": userJSON(user), "access_token": .string(access), "token_type": "Bearer",
            "expires_in": .int(context.api.configuration.accessTokenSeconds), "refresh_token": .string(refresh),
        ]), status: status)
    }

    static func register(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: ["email", "password", "name"])
        let email = try validEmail(input)
        let password = try input.string("password", min: 10, max: 256)
        let name = try input.string("name", min: 1, max: 100)
        let hash = await context.api.hasher.hash(password)
        let user: User
        do {
            user = try await context.write(audit: ("user.register", "user", { $0.id })) { db in
                try User.insert(db, email: email, displayName: name, passwordHash: hash)
            }
        } catch let error as StoreError where error.kind == .uniqueViolation {
            throw APIError.conflict("an account with that email exists", field: "email")
        }
        return try await session(context, user, status: .created)
    }

    static func login(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: ["email", "password"])
        let email = try input.string("email", max: 254)
        let password = try input.string("password", max: 256)
        let user = try await context.readAsync { db in try User.find(db, email: email) }
        // A missing account still pays for a hash, so timing does not reveal which emails exist.
        let stored = user?.passwordHash ?? "pbkdf2-sha256$\(context.api.hasher.iterations)$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        let matches = await PasswordHasher.verify(password, against: stored)
        guard let user, matches else { throw APIError(HTTPStatus(401), "the email or the password is wrong") }
        guard !user.isDisabled else { throw APIError.forbidden("the account is disabled") }
        return try await session(context, user)
    }

    static func refresh(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: ["refresh_token"])
        let presented = try input.string("refresh_token", max: 200)
        let hash = TokenSecret.hash(presented)
        let newRefresh = TokenSecret.make(prefix: refreshPrefix)
        let newHash = TokenSecret.hash(newRefresh)
        let expires = StoreClock.nowMilliseconds() + context.api.configuration.refreshTokenSeconds * 1000
        enum Outcome: Sendable { case rotated(User), replayed, unknown }
        let outcome: Outcome = try await context.write { db in
            guard let old = try APIToken.find(db, tokenHash: hash), old.kind == .refresh else { return .unknown }
            guard let rotated = try APIToken.rotate(db, oldID: old.id, newTokenHash: newHash, expiresAt: expires) else {
                if old.revokedAt != nil {
                    try APIToken.revokeAll(db, userID: old.userID, kind: .refresh)
                    try AuditEntry.append(db, actorID: old.userID, action: "auth.refresh_replayed", targetType: "user", targetID: old.userID)
                    return .replayed
                }
                return .unknown
            }
            guard let user = try User.find(db, id: rotated.userID), !user.isDisabled else { return .unknown }
            return .rotated(user)
        }
        switch outcome {
        case .rotated(let user): return tokens(context, user, refresh: newRefresh)
        case .replayed:
            throw APIError(HTTPStatus(401), "this refresh token was already used; every session of the account was signed out")
        case .unknown:
            throw APIError(HTTPStatus(401), "the refresh token is unknown, expired or revoked")
        }
    }

    static func logout(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: ["refresh_token", "everywhere"])
        let me = try context.me
        if try input.optionalBool("everywhere") == true {
            let userID = me.id
            _ = try await context.write(audit: ("auth.logout_everywhere", "user", { _ in userID })) { db in
                try APIToken.revokeAll(db, userID: userID, kind: .refresh)
            }
            return Reply.noContent
        }
        let hash = TokenSecret.hash(try input.string("refresh_token", max: 200))
        let userID = me.id
        let revoked = try await context.write(audit: ("auth.logout", "user", { $0 ? userID : nil })) { db -> Bool in
            guard let token = try APIToken.find(db, tokenHash: hash), token.kind == .refresh else { return false }
            return try APIToken.revoke(db, id: token.id, userID: userID)
        }
        guard revoked else { throw APIError.notFound("live refresh token of yours with that value") }
        return Reply.noContent
    }

    static func me(_ context: APIContext) throws(APIError) -> HTTPResponse {
        Reply.json(userJSON(try context.me))
    }

    static func tokenJSON(_ token: APIToken) -> JSONValue {
        .object(["id": .string(token.id), "name": .string(token.name), "created_at": .int(token.createdAt),
                 "expires_at": token.expiresAt.map { .int($0) } ?? .null, "last_used_at": token.lastUsedAt.map { .int($0) } ?? .null])
    }

    static func listTokens(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let userID = try context.me.id
        let tokens = try context.read { try APIToken.list($0, userID: userID, kind: .personal) }
        return Reply.json(.object(["items": .array(tokens.map(tokenJSON))]))
    }

    static func createToken(_ context: APIContext) async throws -> HTTPResponse {
        let input = try JSONInput(context.request, allowed: ["name", "expires_in_days"])
        let name = try input.string("name", min: 1, max: 100)
        let days = try input.optionalInt("expires_in_days", in: 1...3650)
        let secret = TokenSecret.make()
        let hash = TokenSecret.hash(secret)
        let userID = try context.me.id
        let expires = days.map { StoreClock.nowMilliseconds() + Int64($0) * 86_400_000 }
        let token = try await context.write(audit: ("token.create", "api_token", { $0.id })) { db in
            try APIToken.insert(db, userID: userID, kind: .personal, name: name, tokenHash: hash, expiresAt: expires)
        }
        guard case .object(var fields) = tokenJSON(token) else { return Reply.noContent }
        fields["token"] = .string(secret)
        return Reply.json(.object(fields), status: .created)
    }

    static func revokeToken(_ context: APIContext) async throws -> HTTPResponse {
        let id = context.parameter("id")
        let userID = try context.me.id
        let revoked = try await context.write(audit: ("token.revoke", "api_token", { $0 ? id : nil })) { db -> Bool in
            guard let token = try APIToken.find(db, id: id), token.kind == .personal else { return false }
            return try APIToken.revoke(db, id: id, userID: userID)
        }
        context.api.credentialsChanged()
        guard revoked else { throw APIError.notFound("live personal token of yours with id \(id)") }
        return Reply.noContent
    }

    static func wsTicket(_ context: APIContext) async throws -> HTTPResponse {
        guard let issue = context.api.configuration.issueChatTicket else {
            throw APIError(HTTPStatus(503), "chat is not served by this server")
        }
        let ticket = issue(try context.me.id)
        return Reply.json(.object(["ticket": .string(ticket), "expires_in": .int(60),
                                   "subprotocols": .array(["builderai.v1", .string("bearer." + ticket)])]), status: .created)
    }
}
