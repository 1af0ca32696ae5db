import Testing
@testable import Store

@Suite struct ConversationTests {
    @Test func createdConversationRoundTrips() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            let conversation = try Conversation.create(db, projectID: project.id, title: "Plan", createdBy: owner.id, at: 1_000)
            #expect(conversation == Conversation(id: conversation.id, projectID: project.id, title: "Plan",
                                                 createdBy: owner.id, lastSeq: 0, createdAt: 1_000, updatedAt: 1_000))
            #expect(try Conversation.find(db, id: conversation.id) == conversation)
            #expect(try Conversation.find(db, id: "missing") == nil)
        }
    }

    @Test func aConversationNeedsAProject() throws {
        try TestDatabase.with { db in
            let error = #expect(throws: StoreError.self) {
                try Conversation.create(db, projectID: "ghost", createdBy: nil)
            }
            #expect(error?.kind == .foreignKeyViolation)
        }
    }

    @Test func renameChangesTheTitleAndMovesTheConversationToTheFront() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            let older = try Conversation.create(db, projectID: project.id, createdBy: owner.id, at: 1_000)
            let newer = try Conversation.create(db, projectID: project.id, createdBy: owner.id, at: 2_000)
            #expect(try Conversation.list(db, projectID: project.id).items.map(\.id) == [newer.id, older.id])

            let renamed = try #require(try Conversation.rename(db, id: older.id, title: "Renamed", at: 3_000))
            #expect(renamed.title == "Renamed" && renamed.updatedAt == 3_000 && renamed.createdAt == 1_000)
            #expect(try Conversation.list(db, projectID: project.id).items.map(\.id) == [older.id, newer.id])
            #expect(try Conversation.rename(db, id: "missing", title: "x") == nil)
        }
    }

    @Test func aNewMessageMovesItsConversationToTheFront() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            let older = try Conversation.create(db, projectID: project.id, createdBy: owner.id, at: 1_000)
            let newer = try Conversation.create(db, projectID: project.id, createdBy: owner.id, at: 2_000)
            _ = try Message.append(db, conversationID: older.id, role: .user, content: "[]", at: 3_000)
            let page = try Conversation.list(db, projectID: project.id)
            #expect(page.items.map(\.id) == [older.id, newer.id])
            #expect(page.items.first?.lastSeq == 1 && page.items.first?.updatedAt == 3_000)
        }
    }

    @Test func listShowsOnlyTheProjectsConversations() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            let other = try TestDatabase.project(db, owner: owner, name: "Other")
            let mine = try Conversation.create(db, projectID: project.id, createdBy: owner.id)
            _ = try Conversation.create(db, projectID: other.id, createdBy: owner.id)
            #expect(try Conversation.list(db, projectID: project.id).items == [mine])
        }
    }

    @Test func listSeesEveryConversationExactlyOnceWhileConversationsAreAddedBetweenPages() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            let original = try (0..<20).map {
                try Conversation.create(db, projectID: project.id, createdBy: owner.id, at: 1_000 + Int64($0 % 4)).id
            }
            var seen: [String] = []
            var cursor: PageCursor?
            var added = 0
            repeat {
                let page = try Conversation.list(db, projectID: project.id, cursor: cursor, limit: 3)
                seen += page.items.map(\.id)
                _ = try Conversation.create(db, projectID: project.id, createdBy: owner.id,
                                            at: added.isMultiple(of: 2) ? 1_001 : 9_000)
                added += 1
                cursor = try page.nextCursor.map { try #require(PageCursor(encoded: $0)) }
            } while cursor != nil
            #expect(Set(seen).count == seen.count, "no conversation is listed twice")
            #expect(Set(original).isSubset(of: Set(seen)), "every conversation that existed throughout is listed")
        }
    }

    @Test func deletingAConversationRemovesItsMessagesAndDetachesItsUsage() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            let doomed = try Conversation.create(db, projectID: project.id, createdBy: owner.id)
            let kept = try Conversation.create(db, projectID: project.id, createdBy: owner.id)
            var last: Message?
            for conversation in [doomed, kept] {
                for _ in 0..<3 {
                    last = try Message.append(db, conversationID: conversation.id, role: .user, content: "[]").message
                }
            }
            let doomedMessage = try #require(try Message.last(db, conversationID: doomed.id, limit: 1).first)
            let usage = try UsageRecord.insert(db, projectID: project.id, conversationID: doomed.id,
                                               messageID: doomedMessage.id, provider: "p", model: "m",
                                               inputTokens: 10, outputTokens: 20)

            #expect(try Conversation.delete(db, id: doomed.id))
            #expect(try Conversation.delete(db, id: doomed.id) == false)
            #expect(try Conversation.find(db, id: doomed.id) == nil)
            #expect(try TestDatabase.count(db, "SELECT count(*) FROM messages WHERE conversation_id = ?", doomed.id) == 0)
            #expect(try Message.find(db, id: doomedMessage.id) == nil)
            #expect(try Message.last(db, conversationID: kept.id, limit: 10).count == 3)
            #expect(try Message.find(db, id: try #require(last).id) != nil)

            // Usage is billing history: it stays with the project, only its links are cleared.
            let detached = try #require(try UsageRecord.list(db, projectID: project.id).items.first)
            #expect(detached.id == usage.id && detached.conversationID == nil && detached.messageID == nil)
            #expect(try UsageRecord.totals(db, projectID: project.id, from: 0, to: .max)
                    == UsageTotals(inputTokens: 10, outputTokens: 20))
        }
    }

    @Test func deletingTheCreatorKeepsTheConversation() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let guest = try TestDatabase.user(db, "guest")
            let project = try TestDatabase.project(db, owner: owner)
            try ProjectMember.add(db, projectID: project.id, userID: guest.id, role: .editor)
            let conversation = try Conversation.create(db, projectID: project.id, createdBy: guest.id)
            let message = try Message.append(db, conversationID: conversation.id, role: .user, content: "[]",
                                             authorID: guest.id).message
            try db.run("DELETE FROM users WHERE id = ?", [guest.id])
            #expect(try Conversation.find(db, id: conversation.id)?.createdBy == nil)
            #expect(try Message.find(db, id: message.id)?.authorID == nil)
        }
    }
}
