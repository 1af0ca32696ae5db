import Foundation
import Store
@testable import API

/// Marketplace seeding over the API itself (publishing is part of what is tested).
extension APITestServer {
    /// Publishes a new project of `owner` with `fields` over the listing defaults; returns the reply.
    func publish(_ owner: Account, name: String = "Demo app", _ fields: [String: Any] = [:]) throws -> Response {
        let project = try project(owner: owner, name: name)
        var body: [String: Any] = ["project_id": project.id, "name": name, "description": "An app",
                                   "category": "productivity", "tags": ["ai"], "price_cents": 0, "version": "1.0"]
        body.merge(fields) { $1 }
        return try request("POST", "/api/v1/apps", token: owner.token, body: json(body))
    }

    /// Publishes and returns the new app's id, failing the test when publishing fails.
    func publishedApp(_ owner: Account, name: String = "Demo app", _ fields: [String: Any] = [:]) throws -> String {
        let reply = try publish(owner, name: name, fields)
        guard reply.status == 201, let id = reply.object["id"] as? String else {
            throw MarketplaceTestError("publishing failed: \(reply.status) \(reply.body)")
        }
        return id
    }

    /// One request whose body is raw bytes (kept in a file, so any byte and any size reach curl).
    func request(_ method: String, _ path: String, token: String?, bytes: [UInt8]) throws -> Response {
        let file = directory.path + "/body-\(StoreID.make())"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try request(method, path, token: token, body: "@" + file)
    }

    /// The app's counters straight from the database.
    func stats(_ appID: String) throws -> AppStats? {
        try store.readers.read(loop: 0) { try App.find($0, id: appID)?.stats }
    }

    /// How many audit entries have `action`.
    func auditCount(_ action: String) throws -> Int {
        try store.readers.read(loop: 0) { db in
            try db.queryOne("SELECT count(*) FROM audit_log WHERE action = ?", [action]) { $0.int(0) } ?? 0
        }
    }
}

struct MarketplaceTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Query-string escaping for test URLs.
func urlEncoded(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
}
