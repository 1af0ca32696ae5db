import Foundation
import Store
import Testing
@testable import API

@Suite(.timeLimit(.minutes(2))) struct AccountRoutesTests {
    @Test func registerLoginRefreshAndReplayRevokesEverySession() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let registered = try server.request("POST", "/api/v1/auth/register",
                                            body: json(["email": "ada@example.com", "password": "correct horse", "name": "Ada"]))
        #expect(registered.status == 201, "\(registered.body)")
        let stored = try server.store.readers.read(loop: 0) { try User.find($0, email: "ada@example.com") }
        #expect(stored?.passwordHash.hasPrefix("pbkdf2-sha256$600000$") == true, "the default cost is 600,000 iterations")

        let login = try server.request("POST", "/api/v1/auth/login", body: json(["email": "ada@example.com", "password": "correct horse"]))
        #expect(login.status == 200)
        let access = try #require(login.object["access_token"] as? String)
        let refresh = try #require(login.object["refresh_token"] as? String)
        #expect(try server.request("GET", "/api/v1/me", token: access).object["email"] as? String == "ada@example.com")

        let wrong = try server.request("POST", "/api/v1/auth/login", body: json(["email": "ada@example.com", "password": "wrong password"]))
        #expect(wrong.status == 401 && wrong.headers["content-type"] == "application/problem+json")

        let rotated = try server.request("POST", "/api/v1/auth/refresh", body: json(["refresh_token": refresh]))
        #expect(rotated.status == 200)
        let newRefresh = try #require(rotated.object["refresh_token"] as? String)
        #expect(newRefresh != refresh)
        let replay = try server.request("POST", "/api/v1/auth/refresh", body: json(["refresh_token": refresh]))
        #expect(replay.status == 401 && replay.body.contains("already used"))
        let afterReplay = try server.request("POST", "/api/v1/auth/refresh", body: json(["refresh_token": newRefresh]))
        #expect(afterReplay.status == 401, "a replay signs out every session, the legitimate one too")
    }

    @Test func logoutRevokesTheRefreshTokenAndIsAudited() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let login = try server.request("POST", "/api/v1/auth/register",
                                       body: json(["email": "lin@example.com", "password": "correct horse", "name": "Lin"]))
        let access = try #require(login.object["access_token"] as? String)
        let refresh = try #require(login.object["refresh_token"] as? String)
        #expect(try server.request("POST", "/api/v1/auth/logout", token: access, body: json(["refresh_token": refresh])).status == 204)
        #expect(try server.request("POST", "/api/v1/auth/refresh", body: json(["refresh_token": refresh])).status == 401)
        #expect(try server.request("POST", "/api/v1/auth/logout", token: access, body: json(["refresh_token": refresh])).status == 404)
        let actions = try server.store.readers.read(loop: 0) { try AuditEntry.recent($0, limit: 50).items.map(\.action) }
        #expect(actions.filter { $0 == "auth.logout" }.count == 1 && actions.contains("user.register"))
    }

    @Test func accessTokensWithAnotherAlgorithmOrSignatureAreRefused() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let signer = JWTSigner(key: Array(repeating: 7, count: 32))
        let now = StoreClock.nowMilliseconds() / 1000
        let good = signer.sign(subject: ada.user.id, now: now)
        #expect(try server.request("GET", "/api/v1/me", token: good).status == 200)
        let parts = good.split(separator: ".")
        let none = Crypto.base64URL(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + parts[1] + "."
        let noneReply = try server.request("GET", "/api/v1/me", token: none)
        #expect(noneReply.status == 401 && noneReply.body.contains("HS256"))
        let forged = JWTSigner(key: Array(repeating: 8, count: 32)).sign(subject: ada.user.id, now: now)
        #expect(try server.request("GET", "/api/v1/me", token: forged).status == 401)
        let expired = signer.sign(subject: ada.user.id, now: now - 3600)
        #expect(try server.request("GET", "/api/v1/me", token: expired).body.contains("expired"))
    }

    @Test func personalTokensAreShownOnceListedWithoutSecretAndRevocable() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let ada = try server.account("Ada")
        let created = try server.request("POST", "/api/v1/tokens", token: ada.token, body: json(["name": "ci"]))
        #expect(created.status == 201)
        let secret = try #require(created.object["token"] as? String)
        let id = try #require(created.object["id"] as? String)
        #expect(try server.request("GET", "/api/v1/me", token: secret).status == 200)
        let listed = try server.request("GET", "/api/v1/tokens", token: ada.token)
        #expect(listed.items.count == 2 && !listed.body.contains(secret))
        #expect(try server.request("DELETE", "/api/v1/tokens/\(id)", token: ada.token).status == 204)
        #expect(try server.request("GET", "/api/v1/me", token: secret).status == 401)
        let eve = try server.account("Eve")
        #expect(try server.request("DELETE", "/api/v1/tokens/\(id)", token: eve.token).status == 404)
    }

    @Test(arguments: [
        (#"{"email":"x@example.com","password":"longenough1","name":"X","admin":true}"#, 400, "unknown field \"admin\""),
        (#"{"email":"not-an-email","password":"longenough1","name":"X"}"#, 422, "\"email\""),
        (#"{"email":"x@example.com","password":"short","name":"X"}"#, 422, "\"password\" must be 10 to 256"),
        (#"{"email":"x@example.com","password":"longenough1"}"#, 422, "\"name\" is required"),
        (#"[1,2]"#, 400, "JSON object"),
        (#"{"email": "#, 400, "not valid JSON"),
    ])
    func registrationNamesTheWrongField(body: String, status: Int, detail: String) throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let reply = try server.request("POST", "/api/v1/auth/register", body: body)
        #expect(reply.status == status && (reply.object["detail"] as? String ?? "").contains(detail), "\(reply.status) \(reply.body)")
    }

    @Test func aBodyThatIsNotJSONIs415AndLoginIsRateLimitedPerIP() throws {
        let server = try APITestServer { $0.rateLimit.authBurst = 3; $0.rateLimit.authRatePerSecond = 0.01 }
        defer { server.shutdown() }
        let form = try server.request("POST", "/api/v1/auth/login", body: "email=a", contentType: "application/x-www-form-urlencoded")
        #expect(form.status == 415)
        var statuses: [Int] = []
        for _ in 0..<4 {
            statuses.append(try server.request("POST", "/api/v1/auth/login", body: json(["email": "a@b.io", "password": "x"])).status)
        }
        #expect(statuses.last == 429)
        let limited = try server.request("POST", "/api/v1/auth/login", body: json(["email": "a@b.io", "password": "x"]))
        #expect(limited.headers["retry-after"] != nil && limited.headers["ratelimit"] != nil)
    }
}
