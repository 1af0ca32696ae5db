import Testing
@testable import Store

@Suite struct UserTests {
    @Test func insertedUserRoundTripsByIDAndByEmail() throws {
        try TestDatabase.with { db in
            let user = try User.insert(db, email: "Ada@Example.com", displayName: "Ada", passwordHash: "h1",
                                       role: .admin, at: 1_000)
            #expect(user.id.count == 22)
            #expect(user.createdAt == 1_000 && user.updatedAt == 1_000)
            #expect(try User.find(db, id: user.id) == user)
            #expect(try User.find(db, email: "Ada@Example.com") == user)
            #expect(try User.find(db, id: "missing") == nil)
            #expect(try User.find(db, email: "bob@example.com") == nil)
        }
    }

    @Test func emailLookupIgnoresLetterCase() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db, "grace")
            #expect(try User.find(db, email: "GRACE@EXAMPLE.COM") == user)
            #expect(try User.find(db, email: "Grace@example.com")?.email == "grace@example.com")
        }
    }

    @Test func secondUserWithTheSameEmailInAnotherCaseIsAUniqueViolation() throws {
        try TestDatabase.with { db in
            _ = try User.insert(db, email: "ada@example.com", displayName: "Ada", passwordHash: "h")
            let error = #expect(throws: StoreError.self) {
                try User.insert(db, email: "ADA@Example.COM", displayName: "Other", passwordHash: "h")
            }
            #expect(error?.kind == .uniqueViolation)
            #expect(try User.list(db).items.count == 1)
        }
    }

    @Test func anUnknownRoleCannotBeStoredAndAnUnknownStoredRoleFailsToDecode() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db)
            let error = #expect(throws: StoreError.self) {
                try db.run("UPDATE users SET role = 'root' WHERE id = ?", [user.id])
            }
            #expect(error?.kind == .constraintViolation)
            // With CHECK constraints ignored, a bad value gets in; reading it must fail cleanly.
            try db.execute("PRAGMA ignore_check_constraints = ON")
            try db.run("UPDATE users SET role = 'root' WHERE id = ?", [user.id])
            let decoding = #expect(throws: StoreError.self) { try User.find(db, id: user.id) }
            #expect(decoding?.kind == .decoding)
        }
    }

    @Test func updateChangesOnlyTheFieldsGivenAndBumpsUpdatedAt() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db, at: 1_000)
            let renamed = try #require(try User.update(db, id: user.id, displayName: "Countess", at: 2_000))
            #expect(renamed.displayName == "Countess")
            #expect(renamed.passwordHash == user.passwordHash && renamed.role == .user)
            #expect(renamed.createdAt == 1_000 && renamed.updatedAt == 2_000)

            let changed = try #require(try User.update(db, id: user.id, passwordHash: "new-hash", role: .admin, at: 3_000))
            #expect(changed.displayName == "Countess" && changed.passwordHash == "new-hash" && changed.role == .admin)
            #expect(try User.find(db, id: user.id) == changed)
            #expect(try User.update(db, id: "missing", displayName: "x") == nil)
        }
    }

    @Test func disablingAUserIsStoredAndReported() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db, at: 1_000)
            #expect(try User.setDisabled(db, id: user.id, isDisabled: true, at: 2_000))
            let disabled = try #require(try User.find(db, id: user.id))
            #expect(disabled.isDisabled && disabled.updatedAt == 2_000)
            #expect(try User.setDisabled(db, id: user.id, isDisabled: false))
            #expect(try User.find(db, id: user.id)?.isDisabled == false)
            #expect(try User.setDisabled(db, id: "missing", isDisabled: true) == false)
        }
    }

    @Test func countAdminsCountsOnlyEnabledAdmins() throws {
        try TestDatabase.with { db in
            #expect(try User.countAdmins(db) == 0)
            let first = try TestDatabase.user(db, "root", role: .admin)
            _ = try TestDatabase.user(db, "ops", role: .admin)
            _ = try TestDatabase.user(db, "plain")
            #expect(try User.countAdmins(db) == 2)
            try User.setDisabled(db, id: first.id, isDisabled: true)
            #expect(try User.countAdmins(db) == 1)
        }
    }

    @Test func listPagesNewestFirstAndBreaksTimeTiesByID() throws {
        try TestDatabase.with { db in
            // Three share a time, so the id tie-break is what keeps pages apart.
            let times: [Int64] = [1_000, 2_000, 2_000, 2_000, 3_000, 4_000, 5_000]
            let users = try times.enumerated().map { try TestDatabase.user(db, "u\($0.offset)", at: $0.element) }
            let expected = users.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }

            var seen: [User] = []
            var cursor: PageCursor?
            repeat {
                let page = try User.list(db, cursor: cursor, limit: 2)
                #expect(page.items.count <= 2)
                seen += page.items
                cursor = try page.nextCursor.map { try #require(PageCursor(encoded: $0)) }
            } while cursor != nil
            #expect(seen == expected)
        }
    }

    @Test func listSeesEveryUserExactlyOnceWhileUsersAreAddedBetweenPages() throws {
        try TestDatabase.with { db in
            let original = try (0..<23).map { try TestDatabase.user(db, "old\($0)", at: 1_000 + Int64($0 % 5)) }
            var seen: [String] = []
            var cursor: PageCursor?
            var added = 0
            repeat {
                let page = try User.list(db, cursor: cursor, limit: 4)
                seen += page.items.map(\.id)
                // A new account arrives between every two pages, some at the very time of the cursor.
                _ = try TestDatabase.user(db, "new\(added)", at: added.isMultiple(of: 2) ? 1_000 : 9_000)
                added += 1
                cursor = try page.nextCursor.map { try #require(PageCursor(encoded: $0)) }
            } while cursor != nil
            #expect(Set(seen).count == seen.count, "no user is listed twice")
            #expect(Set(original.map(\.id)).isSubset(of: Set(seen)), "every user that existed throughout is listed")
        }
    }

    @Test func listClampsTheLimitAndHasNoCursorOnTheLastPage() throws {
        try TestDatabase.with { db in
            _ = try TestDatabase.user(db, "a")
            _ = try TestDatabase.user(db, "b")
            let first = try User.list(db, limit: 0)
            #expect(first.items.count == 1 && first.nextCursor != nil)
            let all = try User.list(db, limit: 2)
            #expect(all.items.count == 2 && all.nextCursor == nil)
            #expect(try User.list(db, limit: .max).items.count == 2)
        }
    }
}
