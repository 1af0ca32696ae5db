import Testing
import TestSupport
@testable import Store

@Suite struct MarketplaceQueriesTests {
    /// A published app whose project has two files, a model, a prompt and a configuration.
    private func appWithContent(_ fixture: MarketplaceFixture, price: Int64 = 0) throws -> App {
        let app = try fixture.publishApp(name: "Writer", priceMinor: price, currency: "EUR")
        try fixture.db.run("UPDATE projects SET llm = 'openai/gpt-4o', system_prompt = 'writer', description = 'd' WHERE id = ?",
                           [app.projectID])
        try fixture.db.run("INSERT INTO project_configs (project_id, mcp_servers, settings, updated_at) VALUES (?, '[\"web\"]', '{\"t\":1}', 0)",
                           [app.projectID])
        _ = try ProjectFile.put(fixture.db, projectID: app.projectID, path: "README.md", content: Array("hello".utf8))
        _ = try ProjectFile.put(fixture.db, projectID: app.projectID, path: "src/a.txt", content: [0, 1, 2])
        _ = try ProjectFile.put(fixture.db, projectID: app.projectID, path: "src/a.txt", content: [0, 1, 2, 3])
        return app
    }

    @Test func installCopyMakesTheInstallersOwnProjectWithFilesAndConfiguration() throws {
        let fixture = try MarketplaceFixture()
        let app = try appWithContent(fixture, price: 499)
        let user = try fixture.makeUser("installer")
        let copy = try Installation.installCopy(fixture.db, app: app, userID: user, at: 5_000)
        #expect(copy.createdProject)
        let projectID = try #require(copy.installation.projectID)
        #expect(projectID != app.projectID)
        let project = try #require(try Project.find(fixture.db, id: projectID))
        #expect(project.ownerID == user && project.name == "Writer" && project.llm == "openai/gpt-4o")
        #expect(project.systemPrompt == "writer" && project.description == "d")
        #expect(try ProjectMember.role(fixture.db, projectID: projectID, userID: user) == .owner)
        let config = try #require(try ProjectConfig.get(fixture.db, projectID: projectID))
        #expect(config.mcpServersJSON == "[\"web\"]" && config.settingsJSON == "{\"t\":1}")
        let files = try ProjectFile.list(fixture.db, projectID: projectID)
        #expect(files.map(\.path) == ["README.md", "src/a.txt"] && files.allSatisfy { $0.version == 1 })
        #expect(try ProjectFile.get(fixture.db, projectID: projectID, path: "src/a.txt")?.content == [0, 1, 2, 3])
        #expect(copy.installation.priceMinor == 499 && copy.installation.currency == "EUR")
        #expect(try App.find(fixture.db, id: app.id)?.stats.downloads == 1)
        let read = try #require(try App.findWithPublisherName(fixture.db, id: app.id))
        #expect(read.app == (try App.find(fixture.db, id: app.id)) && read.publisherName == "publisher")
        #expect(try App.findWithPublisherName(fixture.db, id: "missing") == nil)
        // The source is untouched.
        #expect(try ProjectFile.list(fixture.db, projectID: app.projectID).count == 2)
    }

    @Test func aRepeatReturnsTheSameCopyAndARepeatAfterDeletingItMakesANewOneWithoutCounting() throws {
        let fixture = try MarketplaceFixture()
        let app = try appWithContent(fixture)
        let user = try fixture.makeUser("installer")
        let first = try Installation.installCopy(fixture.db, app: app, userID: user)
        let again = try Installation.installCopy(fixture.db, app: app, userID: user)
        #expect(!again.createdProject && again.installation == first.installation)
        #expect(try fixture.count("projects", where: "owner_id = ?", [user]) == 1)
        try fixture.db.run("DELETE FROM projects WHERE id = ?", [first.installation.projectID])
        #expect(try Installation.liveCount(fixture.db, appID: app.id) == 0)
        let fresh = try Installation.installCopy(fixture.db, app: app, userID: user)
        #expect(fresh.createdProject && fresh.installation.id == first.installation.id)
        #expect(fresh.installation.projectID != first.installation.projectID)
        #expect(try ProjectFile.list(fixture.db, projectID: try #require(fresh.installation.projectID)).count == 2)
        #expect(try App.find(fixture.db, id: app.id)?.stats.downloads == 1)
        #expect(try Installation.liveCount(fixture.db, appID: app.id) == 1)
    }

    @Test func anUnpublishedAppIsNotInstalledAnewButAnExistingCopyIsReturned() throws {
        let fixture = try MarketplaceFixture()
        let app = try appWithContent(fixture)
        let earlier = try fixture.makeUser("earlier")
        _ = try Installation.installCopy(fixture.db, app: app, userID: earlier)
        let hidden = try #require(try App.unpublish(fixture.db, id: app.id))
        let late = try fixture.makeUser("late")
        #expect {
            try Installation.installCopy(fixture.db, app: hidden, userID: late)
        } throws: { ($0 as? StoreError)?.message == Installation.unpublishedMessage }
        #expect(try fixture.count("projects", where: "owner_id = ?", [late]) == 0)
        #expect(try !Installation.installCopy(fixture.db, app: hidden, userID: earlier).createdProject)
    }

    @Test func filteredSearchKeepsTheRankingAndAppliesEveryFilter() throws {
        let fixture = try MarketplaceFixture()
        let nameHit = try fixture.publishApp(name: "Zebra", category: "games", tags: ["fun"], priceMinor: 100)
        let descriptionHit = try fixture.publishApp(name: "Other", description: "a zebra", category: "games", tags: ["fun"])
        _ = try fixture.publishApp(name: "Zebra tools", category: "business", tags: ["fun"])
        let hidden = try fixture.publishApp(name: "Zebra hidden", category: "games", tags: ["fun"])
        _ = try App.unpublish(fixture.db, id: hidden.id)
        let games = try App.search(fixture.db, query: "zebra", category: "games")
        #expect(games.items.map(\.id) == [nameHit.id, descriptionHit.id])
        #expect(try App.search(fixture.db, query: "zebra", category: "games", price: .free).items.map(\.id) == [descriptionHit.id])
        #expect(try App.search(fixture.db, query: "zebra", price: .paid, tag: "FUN").items.map(\.id) == [nameHit.id])
        #expect(try App.search(fixture.db, query: "zebra", tag: "none").items.isEmpty)
        let pages = try fixture.allPages { try App.search(fixture.db, query: "zebra", category: "games", cursor: $0, limit: 1) }
        #expect(pages.flatMap { $0.map(\.id) } == [nameHit.id, descriptionHit.id])
        #expect(try App.search(fixture.db, query: "zebra").items.count == 3)
    }
}
