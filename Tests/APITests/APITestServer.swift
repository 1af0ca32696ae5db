import Foundation
import Net
import Store
import TestSupport
@testable import API

/// An in-process API server on a free port with its own database, for REST tests driven by `curl`
/// (the real peer). Seeds accounts and projects straight through the store.
final class APITestServer: @unchecked Sendable {
    // Invariant: created and shut down by one test.
    let directory = TemporaryDirectory()
    let store: Store
    let api: APIService
    let server: HTTPServer
    var port: Int { server.port }
    var base: String { "http://127.0.0.1:\(port)" }

    init(configure: (inout APIConfiguration) -> Void = { _ in }) throws {
        store = try Store(directory: directory.path, loopCount: 1)
        var configuration = APIConfiguration(jwtKey: Array(repeating: 7, count: 32))
        configuration.rateLimit.ratePerSecond = 10_000
        configuration.rateLimit.burst = 10_000
        configuration.issueChatTicket = { "wst_test-\($0)" }
        configure(&configuration)
        api = APIService(store: store, configuration: configuration)
        var router = Router()
        api.register(on: &router)
        var http = HTTPServerConfiguration()
        http.port = 0
        http.loopCount = 1
        server = try HTTPServer(configuration: http, router: router)
    }

    func shutdown() {
        server.shutdown()
        store.close()
        directory.remove()
    }

    /// A signed-in account: its user row and a personal token.
    struct Account {
        let user: User
        let token: String
    }

    /// Creates an account (password "password1234") with a personal token.
    func account(_ name: String, admin: Bool = false) throws -> Account {
        let secret = TokenSecret.make()
        let hash = PasswordHasher(iterations: 1000).hashNow("password1234")
        let user = try store.writer.writeAndWait { db -> User in
            let user = try User.insert(db, email: "\(name.lowercased())-\(StoreID.make())@example.com", displayName: name,
                                       passwordHash: hash, role: admin ? .admin : .user)
            _ = try APIToken.insert(db, userID: user.id, kind: .personal, name: "test", tokenHash: TokenSecret.hash(secret))
            return user
        }
        return Account(user: user, token: secret)
    }

    /// A project owned by `owner`, with `members` added in their roles.
    func project(owner: Account, name: String = "Demo", members: [(Account, ProjectMember.Role)] = []) throws -> Project {
        try store.writer.writeAndWait { db -> Project in
            let project = try Project.create(db, ownerID: owner.user.id, name: name)
            for (account, role) in members {
                _ = try ProjectMember.add(db, projectID: project.id, userID: account.user.id, role: role)
            }
            return project
        }
    }

    struct Response {
        let status: Int
        let headers: [String: String]
        let body: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var items: [[String: Any]] { object["items"] as? [[String: Any]] ?? [] }
    }

    /// One request with `curl`. `body` is sent as JSON unless `contentType` says otherwise.
    func request(_ method: String, _ path: String, token: String? = nil, body: String? = nil,
                 contentType: String = "application/json", headers: [String] = []) throws -> Response {
        var arguments = ["-s", "-i", "-X", method, base + path, "--max-time", "30"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if let body { arguments += ["-H", "Content-Type: \(contentType)", "--data-binary", body] }
        for header in headers { arguments += ["-H", header] }
        let result = try Peers.run("curl", arguments, timeout: 40)
        if ProcessInfo.processInfo.environment["API_TEST_DEBUG"] != nil { print("CURL", arguments, result.status, result.stdout, result.stderr) }
        return Self.parse(result.stdout)
    }

    static func parse(_ raw: String) -> Response {
        guard let split = raw.range(of: "\r\n\r\n") else { return Response(status: 0, headers: [:], body: raw) }
        let head = raw[..<split.lowerBound].split(separator: "\r\n")
        let status = head.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return Response(status: status, headers: headers, body: String(raw[split.upperBound...]))
    }
}

/// JSON text from a dictionary, for request bodies.
func json(_ object: [String: Any]) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}
