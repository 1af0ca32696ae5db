import Testing
@testable import Store

@Suite struct UsageRecordTests {
    @Test func insertedRecordRoundTripsThroughTheListing() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            let conversation = try Conversation.create(db, projectID: project.id, createdBy: owner.id)
            let message = try Message.append(db, conversationID: conversation.id, role: .assistant, content: "[]").message
            let record = try UsageRecord.insert(db, projectID: project.id, conversationID: conversation.id,
                                                messageID: message.id, userID: owner.id, provider: "anthropic",
                                                model: "claude", inputTokens: 120, outputTokens: 45, at: 1_000)
            #expect(record.id > 0)
            #expect(try UsageRecord.list(db, projectID: project.id).items == [record])
        }
    }

    @Test func negativeTokenCountsAndMissingProjectsAreRejected() throws {
        try TestDatabase.with { db throws in
            let project = try TestDatabase.project(db, owner: try TestDatabase.user(db))
            let negative = #expect(throws: StoreError.self) {
                try UsageRecord.insert(db, projectID: project.id, provider: "p", model: "m", inputTokens: -1, outputTokens: 0)
            }
            #expect(negative?.kind == .constraintViolation)
            let orphan = #expect(throws: StoreError.self) {
                try UsageRecord.insert(db, projectID: "ghost", provider: "p", model: "m", inputTokens: 1, outputTokens: 0)
            }
            #expect(orphan?.kind == .foreignKeyViolation)
        }
    }

    @Test func totalsSumTheHalfOpenPeriodOfOneProject() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            let other = try TestDatabase.project(db, owner: owner, name: "Other")
            for (time, input, output) in [(Int64(999), 1, 1), (1_000, 10, 100), (1_500, 20, 200), (2_000, 40, 400)] {
                _ = try UsageRecord.insert(db, projectID: project.id, provider: "p", model: "m",
                                           inputTokens: input, outputTokens: output, at: time)
            }
            _ = try UsageRecord.insert(db, projectID: other.id, provider: "p", model: "m",
                                       inputTokens: 1_000, outputTokens: 1_000, at: 1_200)
            #expect(try UsageRecord.totals(db, projectID: project.id, from: 1_000, to: 2_000)
                    == UsageTotals(inputTokens: 30, outputTokens: 300))
            #expect(try UsageRecord.totals(db, projectID: project.id, from: 3_000, to: 4_000)
                    == UsageTotals(inputTokens: 0, outputTokens: 0))
        }
    }

    @Test func listSeesEveryRecordExactlyOnceWhileRecordsAreAddedBetweenPages() throws {
        try TestDatabase.with { db in
            let project = try TestDatabase.project(db, owner: try TestDatabase.user(db))
            let original = try (0..<25).map {
                try UsageRecord.insert(db, projectID: project.id, provider: "p", model: "m", inputTokens: $0,
                                       outputTokens: 0, at: 1_000 + Int64($0 % 3))
            }
            var seen: [UsageRecord] = []
            var cursor: PageCursor?
            var added = 0
            repeat {
                let page = try UsageRecord.list(db, projectID: project.id, cursor: cursor, limit: 4)
                seen += page.items
                _ = try UsageRecord.insert(db, projectID: project.id, provider: "p", model: "m", inputTokens: 0,
                                           outputTokens: 0, at: added.isMultiple(of: 2) ? 1_001 : 9_000)
                added += 1
                cursor = try page.nextCursor.map { try #require(PageCursor(encoded: $0)) }
            } while cursor != nil
            #expect(Set(seen.map(\.id)).count == seen.count, "no record is listed twice")
            #expect(Set(original.map(\.id)).isSubset(of: Set(seen.map(\.id))), "every record that existed throughout is listed")
            let originalSeen = seen.filter { Set(original.map(\.id)).contains($0.id) }
            #expect(originalSeen == original.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) })
        }
    }

    @Test func aCursorWhoseIDIsNotANumberRestartsAtItsSortKey() throws {
        try TestDatabase.with { db in
            let project = try TestDatabase.project(db, owner: try TestDatabase.user(db))
            let early = try UsageRecord.insert(db, projectID: project.id, provider: "p", model: "m", inputTokens: 1,
                                               outputTokens: 1, at: 1_000)
            let same = try UsageRecord.insert(db, projectID: project.id, provider: "p", model: "m", inputTokens: 1,
                                              outputTokens: 1, at: 2_000)
            _ = try UsageRecord.insert(db, projectID: project.id, provider: "p", model: "m", inputTokens: 1,
                                       outputTokens: 1, at: 3_000)
            let page = try UsageRecord.list(db, projectID: project.id, cursor: PageCursor(sortKey: 2_000, id: "abc"))
            #expect(page.items.map(\.id) == [same.id, early.id])
        }
    }
}
