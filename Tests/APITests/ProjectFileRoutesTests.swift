import Foundation
import Store
import Testing
@testable import API

@Suite(.timeLimit(.minutes(2))) struct ProjectFileRoutesTests {
    @Test func filesAreWrittenReadVersionedAndDeleted() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let (project, _) = try cast.seed()
        let base = "/api/v1/projects/\(project.id)/files"
        let text = "<h1>Hi</h1>\nline two\n"
        let created = try server.request("PUT", base + "/src/index.html", token: cast.editor.token, body: text, contentType: "text/html")
        #expect(created.status == 201 && created.object["version"] as? Int == 1 && created.headers["etag"] == "\"1\"", "\(created.body)")
        #expect(created.object["size"] as? Int == text.utf8.count && created.object["path"] as? String == "src/index.html")

        let read = try server.request("GET", base + "/src/index.html", token: cast.viewer.token)
        #expect(read.status == 200 && read.body == text)
        #expect(read.headers["content-type"] == "application/octet-stream" && read.headers["etag"] == "\"1\"")

        let replaced = try server.request("PUT", base + "/src/index.html", token: cast.owner.token, body: "v2", contentType: "text/plain")
        #expect(replaced.status == 200 && replaced.object["version"] as? Int == 2)
        let stale = try server.request("PUT", base + "/src/index.html", token: cast.editor.token, body: "v3",
                                       contentType: "text/plain", headers: ["If-Match: \"1\""])
        #expect(stale.status == 412 && stale.headers["etag"] == "\"2\"")
        #expect(try server.request("GET", base + "/src/index.html", token: cast.viewer.token).body == "v2", "a 412 writes nothing")
        let current = try server.request("PUT", base + "/src/index.html", token: cast.editor.token, body: "v3",
                                         contentType: "text/plain", headers: ["If-Match: \"2\""])
        #expect(current.status == 200 && current.object["version"] as? Int == 3)
        let createOnly = try server.request("PUT", base + "/src/index.html", token: cast.editor.token, body: "x",
                                            contentType: "text/plain", headers: ["If-None-Match: *"])
        #expect(createOnly.status == 412)
        let fresh = try server.request("PUT", base + "/new.txt", token: cast.editor.token, body: "x",
                                       contentType: "text/plain", headers: ["If-None-Match: *"])
        #expect(fresh.status == 201)
        let mustExist = try server.request("PUT", base + "/missing.txt", token: cast.editor.token, body: "x",
                                           contentType: "text/plain", headers: ["If-Match: *"])
        #expect(mustExist.status == 412)
        let malformed = try server.request("PUT", base + "/new.txt", token: cast.editor.token, body: "x",
                                           contentType: "text/plain", headers: ["If-Match: 3"])
        #expect(malformed.status == 400 && malformed.object["field"] as? String == "If-Match")

        let listed = try server.request("GET", base, token: cast.viewer.token)
        #expect(listed.items.compactMap { $0["path"] as? String } == ["a.txt", "new.txt", "src/index.html"])
        #expect(listed.items.last?["version"] as? Int == 3 && listed.items.last?["size"] as? Int == 2)
        #expect(listed.items.allSatisfy { $0["updated_at"] is Int })

        #expect(try server.request("DELETE", base + "/src/index.html", token: cast.editor.token).status == 204)
        #expect(try server.request("DELETE", base + "/src/index.html", token: cast.editor.token).status == 404)
        #expect(try server.request("GET", base + "/src/index.html", token: cast.editor.token).status == 404)
        let writes = try cast.audit().filter { $0.targetType == "project_file" }.map(\.action)
        #expect(writes == ["project.file.delete", "project.file.write", "project.file.write", "project.file.write",
                           "project.file.write"], "four writes and a delete; refused ones leave nothing")
        #expect(try cast.audit().first?.targetID == "\(project.id)/src/index.html")
    }

    @Test(arguments: [
        ("%2E%2E/secret", "leaves the project"),
        ("a/%2e/b", "leaves the project"),
        ("a/..%2Fb", "leaves the project"),
        ("a//b", "empty segment"),
        ("%2Fetc/passwd", "absolute"),
        ("a%5Cb", "backslash"),
        ("a%01b", "control character"),
        ("bad%zzescape", "percent escape"),
        (String(repeating: "p", count: 257), "257 bytes"),
    ])
    func pathsThatLeaveTheWorkspaceAreRefused(path: String, detail: String) throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let (project, _) = try cast.seed()
        for method in ["PUT", "GET", "DELETE"] {
            let reply = try server.request(method, "/api/v1/projects/\(project.id)/files/\(path)", token: cast.owner.token,
                                           body: method == "PUT" ? "x" : nil, contentType: "text/plain")
            #expect(reply.status == 422 && reply.object["field"] as? String == "path", "\(method) \(path): \(reply.status) \(reply.body)")
            #expect((reply.object["detail"] as? String ?? "").contains(detail), "\(reply.body)")
        }
        #expect(try server.store.readers.read(loop: 0) { try ProjectFile.list($0, projectID: project.id) }.map(\.path) == ["a.txt"])
    }

    @Test func filesOverOneMebibyteAndWorkspacesOver64AreRefusedWith413() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let (project, _) = try cast.seed()
        let base = "/api/v1/projects/\(project.id)/files"
        // curl reads "@file" bodies from disk: a mebibyte does not fit in one command-line argument.
        let exact = server.directory.path + "/exact.bin"
        let over = server.directory.path + "/over.bin"
        try Data(repeating: 0x61, count: 1 << 20).write(to: URL(fileURLWithPath: exact))
        try Data(repeating: 0x61, count: (1 << 20) + 1).write(to: URL(fileURLWithPath: over))
        #expect(try server.request("PUT", base + "/exact.bin", token: cast.owner.token, body: "@" + exact,
                                   contentType: "application/octet-stream").status == 201)
        #expect(try server.request("PUT", base + "/over.bin", token: cast.owner.token, body: "@" + over,
                                   contentType: "application/octet-stream").status == 413)
        // Fill the workspace to 10 bytes short of 64 MiB (a.txt holds 5, exact.bin 1 MiB).
        let chunk = [UInt8](repeating: 0x62, count: 1 << 20)
        try server.store.writer.writeAndWait { db in
            for n in 0..<62 { _ = try ProjectFile.put(db, projectID: project.id, path: "fill/\(n)", content: chunk) }
            _ = try ProjectFile.put(db, projectID: project.id, path: "fill/last", content: Array(chunk.dropFirst(15)))
        }
        let tooMuch = try server.request("PUT", base + "/more.txt", token: cast.owner.token, body: "12345678901", contentType: "text/plain")
        #expect(tooMuch.status == 413 && (tooMuch.object["detail"] as? String ?? "").contains("per project"), "\(tooMuch.body)")
        #expect(try server.request("PUT", base + "/more.txt", token: cast.owner.token, body: "1234567890", contentType: "text/plain").status == 201)
        // Replacing counts the new size instead of the old: shrinking a file always fits.
        #expect(try server.request("PUT", base + "/a.txt", token: cast.owner.token, body: "hell", contentType: "text/plain").status == 200)
        #expect(try server.request("PUT", base + "/a.txt", token: cast.owner.token, body: "hello!", contentType: "text/plain").status == 413)
    }

    @Test func conversationsAndTheirMessagesArePagedInOrder() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let cast = try ProjectCast(server)
        let (project, conversation) = try cast.seed(messages: 5)
        let (other, otherConversation) = try cast.seed(messages: 1)
        let listed = try server.request("GET", "/api/v1/projects/\(project.id)/conversations", token: cast.viewer.token)
        #expect(listed.items.count == 1 && listed.items.first?["id"] as? String == conversation.id)
        #expect(listed.items.first?["last_seq"] as? Int == 5 && listed.items.first?["title"] as? String == "First")

        let path = "/api/v1/projects/\(project.id)/conversations/\(conversation.id)/messages"
        var seqs: [Int] = []
        var after = "0"
        var pages = 0
        while pages < 10 {
            let page = try server.request("GET", path + "?after_seq=\(after)&limit=2", token: cast.viewer.token)
            #expect(page.status == 200)
            seqs += page.items.compactMap { $0["seq"] as? Int }
            pages += 1
            guard let next = page.object["next_cursor"] as? String else { break }
            after = next
        }
        #expect(seqs == [1, 2, 3, 4, 5] && pages == 3)
        let first = try server.request("GET", path + "?limit=1", token: cast.viewer.token)
        #expect(first.object["next_cursor"] as? String == "1")
        let message = try #require(first.items.first)
        let content = message["content"] as? [[String: Any]]
        #expect(content?.first?["text"] as? String == "message 1", "content is JSON, not a string of JSON")
        #expect(message["role"] as? String == "user" && message["status"] as? String == "complete" && message["id"] is String)
        #expect(message.keys.contains("usage") && message.keys.contains("reply_to") && message.keys.contains("stop_reason"))
        let byCursor = try server.request("GET", path + "?cursor=3", token: cast.viewer.token)
        #expect(byCursor.items.compactMap { $0["seq"] as? Int } == [4, 5] && byCursor.object["next_cursor"] is NSNull)

        let elsewhere = "/api/v1/projects/\(project.id)/conversations/\(otherConversation.id)/messages"
        #expect(try server.request("GET", elsewhere, token: cast.owner.token).status == 404, "a conversation of another project")
        #expect(try server.request("GET", "/api/v1/projects/\(other.id)/conversations/\(conversation.id)/messages",
                                   token: cast.owner.token).status == 404)
        let negative = try server.request("GET", path + "?after_seq=-1", token: cast.viewer.token)
        #expect(negative.status == 400 && negative.object["field"] as? String == "after_seq")
        #expect(try server.request("GET", path + "?limit=0", token: cast.viewer.token).status == 400)
    }
}
