import Testing
@testable import Store

@Suite struct OperationsRecordsTests {
    private let stdioDefinition = #"{"command":"/usr/bin/mcp-files","args":["--root","/srv"],"env":{}}"#

    @Test func migrationsBringAnEmptyDatabaseToTheLatestVersionAndAgainChangeNothing() throws {
        let fixture = try MarketplaceFixture()
        #expect(try fixture.db.userVersion == Migrator.latestVersion)
        let again = try Migrator.migrate(fixture.db)
        #expect(again.from == Migrator.latestVersion && again.to == Migrator.latestVersion)
        for table in ["mcp_servers", "mcp_health", "audit_log", "apps", "app_stats", "installations", "reviews",
                      "apps_fts"] {
            #expect(try fixture.count("sqlite_master", where: "name = ?", [table]) == 1, "missing \(table)")
        }
    }

    // MARK: MCP servers

    @Test func mcpServerRoundTripsThroughInsertFindUpdateAndDelete() throws {
        let db = try MarketplaceFixture().db
        let inserted = try MCPServerRecord.insert(db, name: "files", groupName: "fs", transport: .stdio,
                                                  definition: stdioDefinition, healthIntervalMs: 10_000, at: 100)
        #expect(try MCPServerRecord.find(db, id: inserted.id) == inserted)
        #expect(try MCPServerRecord.find(db, name: "files") == inserted)
        #expect(inserted.enabled && inserted.startAtBoot && inserted.callTimeoutMs == 60_000)

        var edited = inserted
        edited.name = "files-2"
        edited.groupName = nil
        edited.transport = .http
        edited.definition = #"{"url":"http://127.0.0.1:9000/mcp","headers":{}}"#
        edited.enabled = false
        edited.startAtBoot = false
        edited.healthTimeoutMs = 1_234
        let updated = try #require(try MCPServerRecord.update(db, edited, at: 200))
        edited.updatedAt = 200
        #expect(updated == edited)
        #expect(updated.createdAt == 100)
        #expect(try MCPServerRecord.find(db, name: "files") == nil)

        #expect(try MCPServerRecord.delete(db, id: inserted.id))
        #expect(try MCPServerRecord.find(db, id: inserted.id) == nil)
        #expect(try MCPServerRecord.delete(db, id: inserted.id) == false)
        #expect(try MCPServerRecord.update(db, edited) == nil)
    }

    @Test func mcpServerNamesAreUniqueAndDefinitionsMustBeJSON() throws {
        let db = try MarketplaceFixture().db
        try MCPServerRecord.insert(db, name: "files", transport: .stdio, definition: stdioDefinition)
        let duplicate = #expect(throws: StoreError.self) {
            try MCPServerRecord.insert(db, name: "files", transport: .sse, definition: "{}")
        }
        #expect(duplicate?.kind == .uniqueViolation)
        let badJSON = #expect(throws: StoreError.self) {
            try MCPServerRecord.insert(db, name: "broken", transport: .stdio, definition: "{command:")
        }
        #expect(badJSON?.kind == .constraintViolation)
        let badTimeout = #expect(throws: StoreError.self) {
            try MCPServerRecord.insert(db, name: "slow", transport: .stdio, definition: "{}", callTimeoutMs: 0)
        }
        #expect(badTimeout?.kind == .constraintViolation)
        let badTransport = #expect(throws: StoreError.self) {
            try db.run("""
                INSERT INTO mcp_servers (id, name, transport, definition, health_interval_ms, health_timeout_ms,
                                         call_timeout_ms, created_at, updated_at)
                VALUES ('x', 'ws', 'websocket', '{}', 1, 1, 1, 0, 0)
                """)
        }
        #expect(badTransport?.kind == .constraintViolation)
    }

    @Test func listsServersByNameEnabledOnlyAndByGroup() throws {
        let db = try MarketplaceFixture().db
        let b = try MCPServerRecord.insert(db, name: "search-b", groupName: "search", transport: .http, definition: "{}")
        let a = try MCPServerRecord.insert(db, name: "search-a", groupName: "search", transport: .http, definition: "{}")
        let off = try MCPServerRecord.insert(db, name: "off", transport: .stdio, definition: "{}", enabled: false)
        let solo = try MCPServerRecord.insert(db, name: "git", transport: .stdio, definition: "{}")
        #expect(try MCPServerRecord.list(db) == [solo, off, a, b])
        #expect(try MCPServerRecord.list(db, enabledOnly: true) == [solo, a, b])
        #expect(try MCPServerRecord.listByGroup(db, groupName: "search") == [a, b])
        #expect(try MCPServerRecord.listByGroup(db, groupName: "nothing").isEmpty)
    }

    // MARK: Health

    @Test func healthSamplesComeBackNewestFirstSinceATimeAndLimited() throws {
        let db = try MarketplaceFixture().db
        let server = try MCPServerRecord.insert(db, name: "files", transport: .stdio, definition: "{}")
        var samples: [MCPHealthSample] = []
        for at in Int64(1)...10 {
            samples.append(try MCPHealthSample.record(db, serverID: server.id, status: at % 3 == 0 ? .degraded : .healthy,
                                                      latencyMs: Double(at) * 1.5, at: at * 1_000))
        }
        let down = try MCPHealthSample.record(db, serverID: server.id, status: .down, error: "connection refused",
                                              at: 10_000)
        let recent = try MCPHealthSample.recent(db, serverID: server.id, since: 8_000)
        // Equal times keep insertion order (newest id first).
        #expect(recent == [down, samples[9], samples[8], samples[7]])
        #expect(try MCPHealthSample.recent(db, serverID: server.id, since: 0, limit: 2) == [down, samples[9]])
        #expect(down.latencyMs == nil && down.error == "connection refused")
    }

    @Test func latestGivesTheNewestSampleOfEachServerThatHasOne() throws {
        let db = try MarketplaceFixture().db
        let files = try MCPServerRecord.insert(db, name: "files", transport: .stdio, definition: "{}")
        let git = try MCPServerRecord.insert(db, name: "git", transport: .stdio, definition: "{}")
        try MCPServerRecord.insert(db, name: "silent", transport: .stdio, definition: "{}")
        try MCPHealthSample.record(db, serverID: files.id, status: .connecting, at: 5)
        let filesLatest = try MCPHealthSample.record(db, serverID: files.id, status: .healthy, latencyMs: 2, at: 9)
        try MCPHealthSample.record(db, serverID: files.id, status: .down, at: 7)
        try MCPHealthSample.record(db, serverID: git.id, status: .healthy, at: 3)
        let gitLatest = try MCPHealthSample.record(db, serverID: git.id, status: .degraded, at: 3)
        #expect(try MCPHealthSample.latest(db) == [filesLatest, gitLatest])
    }

    @Test func pruneDeletesOnlySamplesOlderThanTheCutoffAndServerDeletionTakesTheRest() throws {
        let fixture = try MarketplaceFixture()
        let db = fixture.db
        let files = try MCPServerRecord.insert(db, name: "files", transport: .stdio, definition: "{}")
        let git = try MCPServerRecord.insert(db, name: "git", transport: .stdio, definition: "{}")
        for at in Int64(0)..<10 {
            try MCPHealthSample.record(db, serverID: files.id, status: .healthy, at: at)
            try MCPHealthSample.record(db, serverID: git.id, status: .healthy, at: at)
        }
        #expect(try MCPHealthSample.prune(db, olderThan: 4) == 8)
        #expect(try fixture.count("mcp_health", where: "at < 4") == 0)
        #expect(try fixture.count("mcp_health") == 12)
        try MCPServerRecord.delete(db, id: files.id)
        #expect(try fixture.count("mcp_health") == 6)
        let orphan = #expect(throws: StoreError.self) {
            try MCPHealthSample.record(db, serverID: files.id, status: .healthy)
        }
        #expect(orphan?.kind == .foreignKeyViolation)
    }

    // MARK: Audit log

    @Test func auditEntriesRoundTripAndOutliveTheirActor() throws {
        let fixture = try MarketplaceFixture()
        let actor = try fixture.makeUser("admin")
        let entry = try AuditEntry.append(fixture.db, actorID: actor, action: "user.disable", targetType: "user",
                                          targetID: "u1", details: #"{"reason":"spam"}"#, ip: "203.0.113.9", at: 42)
        let system = try AuditEntry.append(fixture.db, actorID: nil, action: "mcp.restart", targetType: "mcp_server",
                                           targetID: "s1", at: 43)
        try fixture.db.run("DELETE FROM users WHERE id = ?", [actor])
        #expect(try AuditEntry.recent(fixture.db).items == [system, entry])
        #expect(system.details == "{}" && system.ip == nil)
        let badDetails = #expect(throws: StoreError.self) {
            try AuditEntry.append(fixture.db, actorID: nil, action: "x", targetType: "t", targetID: "1", details: "{")
        }
        #expect(badDetails?.kind == .constraintViolation)
    }

    @Test func auditRecentPagesNewestFirstExactlyOnceWhileEntriesAreAppended() throws {
        let fixture = try MarketplaceFixture()
        var expected: [AuditEntry] = []
        for index in 0..<23 {
            // Several entries share a millisecond, so the id tie-break is exercised.
            expected.append(try AuditEntry.append(fixture.db, actorID: nil, action: "a\(index)", targetType: "t",
                                                  targetID: "\(index % 4)", at: Int64(index / 3)))
        }
        var late = 0
        let pages = try fixture.allPages({ try AuditEntry.recent(fixture.db, cursor: $0, limit: 5) }) {
            late += 1
            try AuditEntry.append(fixture.db, actorID: nil, action: "late", targetType: "t", targetID: "x", at: 1_000)
        }
        #expect(pages.map(\.count) == [5, 5, 5, 5, 3])
        #expect(pages.flatMap { $0 } == expected.reversed())
        #expect(late == 4)
    }

    @Test func auditForTargetListsOneObjectsHistoryNewestFirstInPages() throws {
        let fixture = try MarketplaceFixture()
        var expected: [AuditEntry] = []
        for index in 0..<12 {
            let entry = try AuditEntry.append(fixture.db, actorID: "someone", action: "edit", targetType: "project",
                                              targetID: index % 2 == 0 ? "p1" : "p2", at: Int64(index))
            if index % 2 == 0 { expected.append(entry) }
        }
        try AuditEntry.append(fixture.db, actorID: nil, action: "edit", targetType: "user", targetID: "p1", at: 99)
        let pages = try fixture.allPages {
            try AuditEntry.forTarget(fixture.db, targetType: "project", targetID: "p1", cursor: $0, limit: 4)
        }
        #expect(pages.flatMap { $0 } == expected.reversed())
        #expect(pages.count == 2)
    }

    @Test func auditRejectsACursorFromAnotherListing() throws {
        let db = try MarketplaceFixture().db
        let error = #expect(throws: StoreError.self) {
            try AuditEntry.recent(db, cursor: PageCursor(sortKey: 1, id: "not-a-rowid"))
        }
        #expect(error?.kind == .decoding)
    }
}
