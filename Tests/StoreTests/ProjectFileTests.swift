import Testing
@testable import Store

@Suite struct ProjectFileTests {
    private func project(_ db: SQLiteConnection) throws -> Project {
        try TestDatabase.project(db, owner: try TestDatabase.user(db))
    }

    @Test func putCreatesAtVersionOneAndEachWriteBumpsTheVersion() throws {
        try TestDatabase.with { db in
            let project = try project(db)
            let first = try ProjectFile.put(db, projectID: project.id, path: "src/main.swift", content: Array("v1".utf8), at: 1_000)
            #expect(first == .written(ProjectFileInfo(path: "src/main.swift", size: 2, version: 1, updatedAt: 1_000)))
            let second = try ProjectFile.put(db, projectID: project.id, path: "src/main.swift", content: Array("v two".utf8), at: 2_000)
            #expect(second == .written(ProjectFileInfo(path: "src/main.swift", size: 5, version: 2, updatedAt: 2_000)))
            #expect(try ProjectFile.get(db, projectID: project.id, path: "src/main.swift")
                    == ProjectFile(projectID: project.id, path: "src/main.swift", content: Array("v two".utf8), size: 5,
                                   version: 2, updatedAt: 2_000))
            #expect(try ProjectFile.get(db, projectID: project.id, path: "missing") == nil)
        }
    }

    @Test func binaryAndEmptyContentRoundTrip() throws {
        try TestDatabase.with { db in
            let project = try project(db)
            let bytes: [UInt8] = [0, 255, 0, 1, 0xC3, 0x28]
            _ = try ProjectFile.put(db, projectID: project.id, path: "blob.bin", content: bytes)
            #expect(try ProjectFile.get(db, projectID: project.id, path: "blob.bin")?.content == bytes)
            _ = try ProjectFile.put(db, projectID: project.id, path: "empty.txt", content: [])
            let empty = try #require(try ProjectFile.get(db, projectID: project.id, path: "empty.txt"))
            #expect(empty.content.isEmpty && empty.size == 0 && empty.version == 1)
        }
    }

    @Test func aStaleExpectedVersionIsAConflictAndWritesNothing() throws {
        try TestDatabase.with { db in
            let project = try project(db)
            _ = try ProjectFile.put(db, projectID: project.id, path: "a.txt", content: Array("one".utf8), at: 1_000)
            _ = try ProjectFile.put(db, projectID: project.id, path: "a.txt", content: Array("two".utf8), expectedVersion: 1, at: 2_000)

            // A second editor still holding version 1.
            let stale = try ProjectFile.put(db, projectID: project.id, path: "a.txt", content: Array("lost".utf8), expectedVersion: 1)
            #expect(stale == .conflict(currentVersion: 2))
            let creating = try ProjectFile.put(db, projectID: project.id, path: "a.txt", content: Array("new".utf8), expectedVersion: 0)
            #expect(creating == .conflict(currentVersion: 2))
            let stored = try #require(try ProjectFile.get(db, projectID: project.id, path: "a.txt"))
            #expect(stored.content == Array("two".utf8) && stored.version == 2 && stored.updatedAt == 2_000)

            let current = try ProjectFile.put(db, projectID: project.id, path: "a.txt", content: Array("three".utf8), expectedVersion: 2)
            guard case .written(let info) = current else { Issue.record("expected a write, got \(current)"); return }
            #expect(info.version == 3)
        }
    }

    @Test func aMissingFileConflictsWithAnyExpectedVersionButZero() throws {
        try TestDatabase.with { db in
            let project = try project(db)
            #expect(try ProjectFile.put(db, projectID: project.id, path: "new.txt", content: [1], expectedVersion: 3)
                    == .conflict(currentVersion: 0))
            #expect(try ProjectFile.get(db, projectID: project.id, path: "new.txt") == nil)
            let created = try ProjectFile.put(db, projectID: project.id, path: "new.txt", content: [1], expectedVersion: 0, at: 7)
            #expect(created == .written(ProjectFileInfo(path: "new.txt", size: 1, version: 1, updatedAt: 7)))
        }
    }

    @Test func listGivesPathsInOrderWithoutContent() throws {
        try TestDatabase.with { db in
            let project = try project(db)
            let other = try TestDatabase.project(db, owner: try TestDatabase.user(db, "other"))
            _ = try ProjectFile.put(db, projectID: project.id, path: "b.txt", content: [1, 2, 3], at: 1)
            _ = try ProjectFile.put(db, projectID: project.id, path: "a/z.txt", content: [1], at: 2)
            _ = try ProjectFile.put(db, projectID: other.id, path: "c.txt", content: [1], at: 3)
            #expect(try ProjectFile.list(db, projectID: project.id) == [
                ProjectFileInfo(path: "a/z.txt", size: 1, version: 1, updatedAt: 2),
                ProjectFileInfo(path: "b.txt", size: 3, version: 1, updatedAt: 1),
            ])
        }
    }

    @Test func deleteAndTotalSizeTrackTheWorkspace() throws {
        try TestDatabase.with { db in
            let project = try project(db)
            #expect(try ProjectFile.totalSize(db, projectID: project.id) == 0)
            _ = try ProjectFile.put(db, projectID: project.id, path: "a", content: Array(repeating: 7, count: 100))
            _ = try ProjectFile.put(db, projectID: project.id, path: "b", content: Array(repeating: 7, count: 28))
            #expect(try ProjectFile.totalSize(db, projectID: project.id) == 128)
            #expect(try ProjectFile.delete(db, projectID: project.id, path: "a"))
            #expect(try ProjectFile.delete(db, projectID: project.id, path: "a") == false)
            #expect(try ProjectFile.totalSize(db, projectID: project.id) == 28)
            #expect(try ProjectFile.list(db, projectID: project.id).map(\.path) == ["b"])
        }
    }

    @Test func aFileForAMissingProjectIsAForeignKeyViolation() throws {
        try TestDatabase.with { db in
            let error = #expect(throws: StoreError.self) {
                try ProjectFile.put(db, projectID: "ghost", path: "a", content: [1])
            }
            #expect(error?.kind == .foreignKeyViolation)
        }
    }
}
