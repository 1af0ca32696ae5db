import Foundation
import Store
@testable import API

/// The people around a project, for the project route tests: its owner, an editor, a viewer, another
/// viewer to manage, someone who is not a member, and a server administrator (not a member either).
struct ProjectCast {
    let server: APITestServer
    let owner: APITestServer.Account
    let editor: APITestServer.Account
    let viewer: APITestServer.Account
    let extra: APITestServer.Account
    let stranger: APITestServer.Account
    let admin: APITestServer.Account

    init(_ server: APITestServer) throws {
        self.server = server
        owner = try server.account("Olive")
        editor = try server.account("Edith")
        viewer = try server.account("Vera")
        extra = try server.account("Xavier")
        stranger = try server.account("Stan")
        admin = try server.account("Adam", admin: true)
    }

    /// A fresh project with every member, a file "a.txt" ("hello") and a conversation of `messages`
    /// user messages whose content is `[{"type":"text","text":"message <n>"}]`.
    func seed(messages: Int = 3) throws -> (project: Project, conversation: Conversation) {
        let project = try server.project(owner: owner, members: [(editor, .editor), (viewer, .viewer), (extra, .viewer)])
        let ownerID = owner.user.id
        let conversation = try server.store.writer.writeAndWait { db -> Conversation in
            _ = try ProjectFile.put(db, projectID: project.id, path: "a.txt", content: Array("hello".utf8))
            let conversation = try Conversation.create(db, projectID: project.id, title: "First", createdBy: ownerID)
            for n in stride(from: 1, through: messages, by: 1) {
                _ = try Message.append(db, conversationID: conversation.id, role: .user,
                                       content: #"[{"type":"text","text":"message \#(n)"}]"#, authorID: ownerID)
            }
            return conversation
        }
        return (project, conversation)
    }

    /// Every audit entry so far, newest first.
    func audit() throws -> [AuditEntry] {
        var entries: [AuditEntry] = []
        var cursor: PageCursor?
        repeat {
            let page = try server.store.readers.read(loop: 0) { try AuditEntry.recent($0, cursor: cursor, limit: 100) }
            entries += page.items
            cursor = page.nextCursor.flatMap(PageCursor.init(encoded:))
        } while cursor != nil
        return entries
    }
}
