import Testing
@testable import Store

@Suite struct MessageTests {
    /// A conversation in a fresh project, and the project's owner.
    private func conversation(_ db: SQLiteConnection) throws -> (Conversation, User) {
        let owner = try TestDatabase.user(db)
        let project = try TestDatabase.project(db, owner: owner)
        return (try Conversation.create(db, projectID: project.id, createdBy: owner.id, at: 1_000), owner)
    }

    @Test func appendedMessageRoundTripsAndBumpsTheConversation() throws {
        try TestDatabase.with { db in
            let (conversation, owner) = try conversation(db)
            let appended = try Message.append(db, conversationID: conversation.id, role: .user,
                                              content: #"[{"type":"text","text":"hi"}]"#, status: .complete,
                                              clientID: "c-1", authorID: owner.id, model: nil, at: 2_000)
            #expect(appended.inserted)
            let message = appended.message
            #expect(message == Message(id: message.id, conversationID: conversation.id, seq: 1, role: .user,
                                       content: #"[{"type":"text","text":"hi"}]"#, status: .complete, clientID: "c-1",
                                       authorID: owner.id, createdAt: 2_000, updatedAt: 2_000))
            #expect(try Message.find(db, id: message.id) == message)
            #expect(try Message.find(db, conversationID: conversation.id, clientID: "c-1") == message)
            #expect(try Message.find(db, id: "missing") == nil)
            let bumped = try #require(try Conversation.find(db, id: conversation.id))
            #expect(bumped.lastSeq == 1 && bumped.updatedAt == 2_000)
        }
    }

    @Test func seqsCountOneTwoThreePerConversationIndependently() throws {
        try TestDatabase.with { db in
            let (first, owner) = try conversation(db)
            let second = try Conversation.create(db, projectID: first.projectID, createdBy: owner.id)
            var seqs: [String: [Int]] = [:]
            for i in 0..<7 {
                let target = i % 3 == 0 ? second : first
                let message = try Message.append(db, conversationID: target.id, role: .user, content: "[]").message
                seqs[target.id, default: []].append(message.seq)
            }
            #expect(seqs[first.id] == [1, 2, 3, 4])
            #expect(seqs[second.id] == [1, 2, 3])
            #expect(try Conversation.find(db, id: first.id)?.lastSeq == 4)
            #expect(try Conversation.find(db, id: second.id)?.lastSeq == 3)
        }
    }

    @Test func aRetriedClientIDReturnsTheStoredMessageWithoutInserting() throws {
        try TestDatabase.with { db in
            let (conversation, owner) = try conversation(db)
            let first = try Message.append(db, conversationID: conversation.id, role: .user, content: #"["once"]"#,
                                           clientID: "retry-me", authorID: owner.id, at: 2_000)
            let retry = try Message.append(db, conversationID: conversation.id, role: .user, content: #"["twice"]"#,
                                           clientID: "retry-me", authorID: owner.id, at: 3_000)
            #expect(first.inserted && !retry.inserted)
            #expect(retry.message == first.message)
            #expect(try Message.last(db, conversationID: conversation.id, limit: 10) == [first.message])
            let unchanged = try #require(try Conversation.find(db, id: conversation.id))
            #expect(unchanged.lastSeq == 1 && unchanged.updatedAt == 2_000, "a retry takes no number and no time")

            // Client ids are scoped to their conversation.
            let other = try Conversation.create(db, projectID: conversation.projectID, createdBy: owner.id)
            let elsewhere = try Message.append(db, conversationID: other.id, role: .user, content: "[]", clientID: "retry-me")
            #expect(elsewhere.inserted && elsewhere.message.seq == 1)
            // Without a client id every append is new.
            let plain = try Message.append(db, conversationID: conversation.id, role: .user, content: #"["once"]"#)
            #expect(plain.inserted && plain.message.seq == 2)
        }
    }

    @Test func aMissingConversationIsAForeignKeyViolation() throws {
        try TestDatabase.with { db in
            let error = #expect(throws: StoreError.self) {
                try Message.append(db, conversationID: "ghost", role: .user, content: "[]")
            }
            #expect(error?.kind == .foreignKeyViolation)
        }
    }

    @Test func aFailedAppendGivesItsSeqBack() throws {
        try TestDatabase.with { db throws in
            let (conversation, _) = try conversation(db)
            let error = #expect(throws: StoreError.self) {
                try Message.append(db, conversationID: conversation.id, role: .user, content: "[]", authorID: "ghost")
            }
            #expect(error?.kind == .foreignKeyViolation)
            #expect(try Conversation.find(db, id: conversation.id)?.lastSeq == 0)
            let next = try Message.append(db, conversationID: conversation.id, role: .user, content: "[]").message
            #expect(next.seq == 1)
        }
    }

    @Test func updateSavesStreamingProgressAndKeepsWhatIsNotGiven() throws {
        try TestDatabase.with { db in
            let (conversation, _) = try conversation(db)
            let reply = try Message.append(db, conversationID: conversation.id, role: .assistant, content: "[]",
                                           status: .incomplete, model: "claude", at: 2_000).message
            #expect(try Message.update(db, id: reply.id, content: #"["Hel"]"#, status: .incomplete, at: 2_100))
            let partial = try #require(try Message.find(db, id: reply.id))
            #expect(partial.content == #"["Hel"]"# && partial.status == .incomplete && partial.model == "claude")
            #expect(partial.inputTokens == nil && partial.updatedAt == 2_100 && partial.createdAt == 2_000)

            #expect(try Message.update(db, id: reply.id, content: #"["Hello"]"#, status: .complete, inputTokens: 12,
                                       outputTokens: 3, model: "claude-2", at: 2_200))
            let done = try #require(try Message.find(db, id: reply.id))
            #expect(done == Message(id: reply.id, conversationID: conversation.id, seq: 1, role: .assistant,
                                    content: #"["Hello"]"#, status: .complete, model: "claude-2", inputTokens: 12,
                                    outputTokens: 3, createdAt: 2_000, updatedAt: 2_200))
            #expect(try Message.update(db, id: "missing", content: "[]", status: .error) == false)
        }
    }

    @Test func lastReturnsTheNewestMessagesOldestFirst() throws {
        try TestDatabase.with { db in
            let (conversation, _) = try conversation(db)
            for i in 1...10 {
                _ = try Message.append(db, conversationID: conversation.id, role: i.isMultiple(of: 2) ? .assistant : .user,
                                       content: "[\(i)]")
            }
            #expect(try Message.last(db, conversationID: conversation.id, limit: 3).map(\.seq) == [8, 9, 10])
            #expect(try Message.last(db, conversationID: conversation.id, limit: 3).map(\.content) == ["[8]", "[9]", "[10]"])
            #expect(try Message.last(db, conversationID: conversation.id, limit: 50).map(\.seq) == Array(1...10))
            #expect(try Message.last(db, conversationID: conversation.id, limit: 0).isEmpty)
            #expect(try Message.last(db, conversationID: "missing", limit: 5).isEmpty)
        }
    }

    @Test func afterPagesForwardFromASeq() throws {
        try TestDatabase.with { db in
            let (conversation, _) = try conversation(db)
            for _ in 1...7 { _ = try Message.append(db, conversationID: conversation.id, role: .user, content: "[]") }
            #expect(try Message.after(db, conversationID: conversation.id, seq: 0, limit: 3).map(\.seq) == [1, 2, 3])
            #expect(try Message.after(db, conversationID: conversation.id, seq: 3, limit: 3).map(\.seq) == [4, 5, 6])
            #expect(try Message.after(db, conversationID: conversation.id, seq: 6, limit: 3).map(\.seq) == [7])
            #expect(try Message.after(db, conversationID: conversation.id, seq: 7, limit: 3).isEmpty)
        }
    }

    @Test func theEveryTurnReadsSearchAnIndexInsteadOfScanningOrSorting() throws {
        try TestDatabase.with { db in
            // Enough rows in several conversations, and statistics, that the planner has real choices.
            let (conversation, owner) = try conversation(db)
            let other = try Conversation.create(db, projectID: conversation.projectID, createdBy: owner.id)
            for i in 0..<200 {
                _ = try Message.append(db, conversationID: i.isMultiple(of: 4) ? other.id : conversation.id,
                                       role: .user, content: "[]", clientID: "c\(i)")
            }
            try db.execute("ANALYZE")
            for sql in [Message.lastSQL, Message.afterSQL, Message.byClientIDSQL] {
                let plan = try db.query("EXPLAIN QUERY PLAN " + sql, Array(repeating: "x", count: sql.count { $0 == "?" })) {
                    $0.string(3)
                }.joined(separator: "\n")
                #expect(plan.contains("SEARCH messages USING INDEX") || plan.contains("USING PRIMARY KEY"), "\(plan)")
                #expect(!plan.contains("SCAN messages"), "\(plan)")
                #expect(!plan.contains("TEMP B-TREE"), "no sort step: \(plan)")
            }
        }
    }
}

/// The owner's fast path: numbers handed out by the caller, guarded by the unique index.
@Suite struct MessageInsertTests {
    @Test func insertsWithTheOwnersSequenceNumberAndRejectsADuplicate() throws {
        try TestDatabase.with { db in
            let conversation = try MessageInsertTests.conversation(db)
            #expect(try Message.highestSeq(db, conversationID: conversation) == 0)
            try Message.insert(db, conversationID: conversation, seq: 1, role: .user, content: "[]")
            try Message.insert(db, conversationID: conversation, seq: 2, role: .assistant, content: "[]", status: .incomplete)
            #expect(try Message.highestSeq(db, conversationID: conversation) == 2)
            #expect(try Message.last(db, conversationID: conversation, limit: 10).map(\.seq) == [1, 2])
            let duplicate = #expect(throws: StoreError.self) {
                try Message.insert(db, conversationID: conversation, seq: 2, role: .user, content: "[]")
            }
            #expect(duplicate?.kind == .uniqueViolation)
            let missing = #expect(throws: StoreError.self) {
                try Message.insert(db, conversationID: "nope", seq: 1, role: .user, content: "[]")
            }
            #expect(missing?.kind == .foreignKeyViolation)
        }
    }

    private static func conversation(_ db: SQLiteConnection) throws -> String {
        let user = try User.insert(db, email: "owner@example.com", displayName: "Owner", passwordHash: "h")
        let project = try Project.create(db, ownerID: user.id, name: "p")
        return try Conversation.create(db, projectID: project.id, title: "c", createdBy: user.id).id
    }
}
