import Testing
@testable import Store

@Suite struct ProjectTests {
    @Test func createStoresTheProjectItsOwnerMembershipAndADefaultConfig() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try Project.create(db, ownerID: owner.id, name: "Site", description: "A web site",
                                             systemPrompt: "coder", llm: "anthropic/claude", at: 1_000)
            #expect(project.status == .active && project.createdAt == 1_000 && project.updatedAt == 1_000)
            #expect(try Project.find(db, id: project.id) == project)
            #expect(try ProjectMember.list(db, projectID: project.id)
                    == [ProjectMember(projectID: project.id, userID: owner.id, role: .owner, addedAt: 1_000)])
            #expect(try ProjectConfig.get(db, projectID: project.id)
                    == ProjectConfig(projectID: project.id, mcpServersJSON: "[]", settingsJSON: "{}", updatedAt: 1_000))
            #expect(try Project.find(db, id: "missing") == nil)
        }
    }

    @Test func createUsesTheSchemaDefaultsWhenOnlyANameIsGiven() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try Project.create(db, ownerID: owner.id, name: "Bare")
            let stored = try #require(try Project.find(db, id: project.id))
            #expect(stored.description == "" && stored.systemPrompt == "default" && stored.llm == "offline/offline")
        }
    }

    @Test func aProjectForAMissingOwnerIsAForeignKeyViolationAndLeavesNothingBehind() throws {
        try TestDatabase.with { db throws in
            let error = #expect(throws: StoreError.self) {
                try Project.create(db, ownerID: "ghost", name: "Nope")
            }
            #expect(error?.kind == .foreignKeyViolation)
            for table in ["projects", "project_members", "project_configs"] {
                #expect(try TestDatabase.count(db, "SELECT count(*) FROM \(table)") == 0, "\(table)")
            }
        }
    }

    @Test func updateChangesOnlyTheFieldsGivenAndBumpsUpdatedAt() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner, at: 1_000)
            let renamed = try #require(try Project.update(db, id: project.id, name: "Renamed", at: 2_000))
            #expect(renamed.name == "Renamed" && renamed.description == project.description && renamed.updatedAt == 2_000)

            let changed = try #require(try Project.update(db, id: project.id, description: "d", systemPrompt: "p",
                                                          llm: "openai/gpt", status: .archived, at: 3_000))
            #expect(changed == Project(id: project.id, ownerID: owner.id, name: "Renamed", description: "d",
                                       systemPrompt: "p", llm: "openai/gpt", status: .archived, createdAt: 1_000,
                                       updatedAt: 3_000))
            #expect(try Project.find(db, id: project.id) == changed)
            #expect(try Project.update(db, id: "missing", name: "x") == nil)
        }
    }

    @Test func deletingAProjectRemovesEverythingThatHangsOffIt() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let editor = try TestDatabase.user(db, "editor")
            let project = try TestDatabase.project(db, owner: owner)
            let kept = try TestDatabase.project(db, owner: owner, name: "Kept")
            for target in [project, kept] {
                try ProjectMember.add(db, projectID: target.id, userID: editor.id, role: .editor)
                _ = try ProjectFile.put(db, projectID: target.id, path: "README.md", content: Array("hi".utf8))
                let conversation = try Conversation.create(db, projectID: target.id, createdBy: owner.id)
                let message = try Message.append(db, conversationID: conversation.id, role: .user, content: "[]").message
                _ = try UsageRecord.insert(db, projectID: target.id, conversationID: conversation.id,
                                           messageID: message.id, provider: "p", model: "m", inputTokens: 1, outputTokens: 1)
            }

            #expect(try Project.delete(db, id: project.id))
            #expect(try Project.delete(db, id: project.id) == false)
            for table in ["project_members", "project_configs", "project_files", "conversations", "usage_records"] {
                #expect(try TestDatabase.count(db, "SELECT count(*) FROM \(table) WHERE project_id = ?", project.id) == 0, "\(table)")
            }
            #expect(try TestDatabase.count(db, "SELECT count(*) FROM messages") == 1, "only the kept project's message is left")
            #expect(try ProjectMember.list(db, projectID: kept.id).count == 2)
            #expect(try ProjectFile.list(db, projectID: kept.id).count == 1)
            #expect(try User.find(db, id: owner.id) != nil && User.find(db, id: editor.id) != nil)
        }
    }

    @Test func listForUserReturnsTheirProjectsWithTheirRoleNewestFirst() throws {
        try TestDatabase.with { db in
            let ada = try TestDatabase.user(db, "ada")
            let bob = try TestDatabase.user(db, "bob")
            let mine = try TestDatabase.project(db, owner: ada, name: "Mine", at: 1_000)
            let shared = try TestDatabase.project(db, owner: bob, name: "Shared", at: 2_000)
            _ = try TestDatabase.project(db, owner: bob, name: "Private", at: 3_000)
            try ProjectMember.add(db, projectID: shared.id, userID: ada.id, role: .viewer)

            let page = try Project.listForUser(db, userID: ada.id)
            #expect(page.items == [ProjectWithRole(project: shared, role: .viewer), ProjectWithRole(project: mine, role: .owner)])
            #expect(page.nextCursor == nil)
            #expect(try Project.listForUser(db, userID: "nobody").items.isEmpty)
        }
    }

    @Test func listForUserSeesEveryProjectExactlyOnceWhileProjectsAreAddedBetweenPages() throws {
        try TestDatabase.with { db in
            let ada = try TestDatabase.user(db, "ada")
            let bob = try TestDatabase.user(db, "bob")
            var original: [String] = []
            for i in 0..<17 {
                // Half are Bob's, shared with Ada; equal times make the id tie-break matter.
                if i.isMultiple(of: 2) {
                    original.append(try TestDatabase.project(db, owner: ada, name: "a\(i)", at: 1_000 + Int64(i % 3)).id)
                } else {
                    let project = try TestDatabase.project(db, owner: bob, name: "b\(i)", at: 1_000 + Int64(i % 3))
                    try ProjectMember.add(db, projectID: project.id, userID: ada.id, role: .editor)
                    original.append(project.id)
                }
            }
            _ = try TestDatabase.project(db, owner: bob, name: "not shared", at: 1_001)

            var seen: [String] = []
            var cursor: PageCursor?
            var added = 0
            repeat {
                let page = try Project.listForUser(db, userID: ada.id, cursor: cursor, limit: 3)
                seen += page.items.map(\.project.id)
                _ = try TestDatabase.project(db, owner: ada, name: "new\(added)", at: added.isMultiple(of: 2) ? 1_001 : 9_000)
                added += 1
                cursor = try page.nextCursor.map { try #require(PageCursor(encoded: $0)) }
            } while cursor != nil
            #expect(Set(seen).count == seen.count, "no project is listed twice")
            #expect(Set(original).isSubset(of: Set(seen)), "every project that existed throughout is listed")
        }
    }

    @Test func membersCanBeAddedReassignedAndRemoved() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db, "owner")
            let guest = try TestDatabase.user(db, "guest")
            let project = try TestDatabase.project(db, owner: owner, at: 1_000)
            let member = try ProjectMember.add(db, projectID: project.id, userID: guest.id, role: .viewer, at: 2_000)
            #expect(member == ProjectMember(projectID: project.id, userID: guest.id, role: .viewer, addedAt: 2_000))
            #expect(try ProjectMember.role(db, projectID: project.id, userID: guest.id) == .viewer)
            #expect(try ProjectMember.list(db, projectID: project.id).map(\.userID) == [owner.id, guest.id])

            #expect(try ProjectMember.setRole(db, projectID: project.id, userID: guest.id, role: .editor))
            #expect(try ProjectMember.role(db, projectID: project.id, userID: guest.id) == .editor)
            #expect(try ProjectMember.remove(db, projectID: project.id, userID: guest.id))
            #expect(try ProjectMember.role(db, projectID: project.id, userID: guest.id) == nil)
            #expect(try ProjectMember.remove(db, projectID: project.id, userID: guest.id) == false)
            #expect(try ProjectMember.setRole(db, projectID: project.id, userID: guest.id, role: .owner) == false)
        }
    }

    @Test func aMemberAddedTwiceIsAUniqueViolation() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db, "owner")
            let guest = try TestDatabase.user(db, "guest")
            let project = try TestDatabase.project(db, owner: owner)
            try ProjectMember.add(db, projectID: project.id, userID: guest.id, role: .viewer)
            let error = #expect(throws: StoreError.self) {
                try ProjectMember.add(db, projectID: project.id, userID: guest.id, role: .editor)
            }
            #expect(error?.kind == .uniqueViolation)
            let owners = #expect(throws: StoreError.self) {
                try ProjectMember.add(db, projectID: project.id, userID: owner.id, role: .viewer)
            }
            #expect(owners?.kind == .uniqueViolation)
            let ghost = #expect(throws: StoreError.self) {
                try ProjectMember.add(db, projectID: project.id, userID: "ghost", role: .viewer)
            }
            #expect(ghost?.kind == .foreignKeyViolation)
        }
    }

    @Test func configStoresTheJSONAsGivenAndKeepsWhatIsNotGiven() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner, at: 1_000)
            let servers = #"["github", "group:web"]"#
            let set = try ProjectConfig.set(db, projectID: project.id, mcpServersJSON: servers, at: 2_000)
            #expect(set == ProjectConfig(projectID: project.id, mcpServersJSON: servers, settingsJSON: "{}", updatedAt: 2_000))
            let both = try ProjectConfig.set(db, projectID: project.id, settingsJSON: #"{"temperature": 0.2}"#, at: 3_000)
            #expect(both.mcpServersJSON == servers && both.settingsJSON == #"{"temperature": 0.2}"# && both.updatedAt == 3_000)
            #expect(try ProjectConfig.get(db, projectID: project.id) == both)
            #expect(try ProjectConfig.get(db, projectID: "missing") == nil)
        }
    }

    @Test func configIsRecreatedIfMissingButNeedsAProject() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db)
            let project = try TestDatabase.project(db, owner: owner)
            try db.run("DELETE FROM project_configs WHERE project_id = ?", [project.id])
            let config = try ProjectConfig.set(db, projectID: project.id, settingsJSON: "{}", at: 5)
            #expect(config == ProjectConfig(projectID: project.id, updatedAt: 5))
            let error = #expect(throws: StoreError.self) { try ProjectConfig.set(db, projectID: "ghost", mcpServersJSON: "[]") }
            #expect(error?.kind == .foreignKeyViolation)
        }
    }
}
