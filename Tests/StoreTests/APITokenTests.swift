import Testing
@testable import Store

@Suite struct APITokenTests {
    let hashA: [UInt8] = Array(repeating: 0xA1, count: 32)
    let hashB: [UInt8] = Array(repeating: 0xB2, count: 32)
    let hashC: [UInt8] = Array(repeating: 0xC3, count: 32)

    @Test func insertedTokenRoundTripsByHashAndByID() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db)
            let token = try APIToken.insert(db, userID: user.id, kind: .personal, name: "laptop", tokenHash: hashA,
                                            expiresAt: 5_000, at: 1_000)
            #expect(token.userID == user.id && token.kind == .personal && token.name == "laptop")
            #expect(token.createdAt == 1_000 && token.expiresAt == 5_000)
            #expect(token.lastUsedAt == nil && token.revokedAt == nil && token.replacedBy == nil)
            #expect(try APIToken.find(db, tokenHash: hashA) == token)
            #expect(try APIToken.find(db, id: token.id) == token)
            #expect(try APIToken.find(db, tokenHash: hashB) == nil)
        }
    }

    @Test func aTokenHashIsUniqueAndATokenNeedsAUser() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db)
            _ = try APIToken.insert(db, userID: user.id, kind: .personal, tokenHash: hashA)
            let duplicate = #expect(throws: StoreError.self) {
                try APIToken.insert(db, userID: user.id, kind: .refresh, tokenHash: hashA)
            }
            #expect(duplicate?.kind == .uniqueViolation)
            let orphan = #expect(throws: StoreError.self) {
                try APIToken.insert(db, userID: "missing", kind: .personal, tokenHash: hashB)
            }
            #expect(orphan?.kind == .foreignKeyViolation)
        }
    }

    @Test func isUsableUntilExpiryOrRevocation() {
        var token = APIToken(id: "t", userID: "u", kind: .personal, tokenHash: [1], createdAt: 0, expiresAt: 100)
        #expect(token.isUsable(at: 99))
        #expect(!token.isUsable(at: 100))
        token.expiresAt = nil
        #expect(token.isUsable(at: .max))
        token.revokedAt = 50
        #expect(!token.isUsable(at: 10))
    }

    @Test func touchRecordsTheLastUse() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db)
            let token = try APIToken.insert(db, userID: user.id, kind: .personal, tokenHash: hashA)
            #expect(try APIToken.touch(db, id: token.id, at: 7_000))
            #expect(try APIToken.find(db, id: token.id)?.lastUsedAt == 7_000)
            #expect(try APIToken.touch(db, id: "missing") == false)
        }
    }

    @Test func onlyTheOwnerCanRevokeATokenAndOnlyOnce() throws {
        try TestDatabase.with { db in
            let owner = try TestDatabase.user(db, "owner")
            let other = try TestDatabase.user(db, "other")
            let token = try APIToken.insert(db, userID: owner.id, kind: .personal, tokenHash: hashA)
            #expect(try APIToken.revoke(db, id: token.id, userID: other.id) == false)
            #expect(try APIToken.find(db, id: token.id)?.revokedAt == nil)
            #expect(try APIToken.revoke(db, id: token.id, userID: owner.id, at: 2_000))
            #expect(try APIToken.revoke(db, id: token.id, userID: owner.id, at: 3_000) == false)
            let revoked = try #require(try APIToken.find(db, tokenHash: hashA))
            #expect(revoked.revokedAt == 2_000, "the first revocation time is kept")
            #expect(!revoked.isUsable(at: 2_500))
        }
    }

    @Test func listFiltersByKindAndLeavesRevokedTokensOutUnlessAsked() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db)
            let other = try TestDatabase.user(db, "other")
            let personal = try APIToken.insert(db, userID: user.id, kind: .personal, tokenHash: hashA, at: 1_000)
            let refresh = try APIToken.insert(db, userID: user.id, kind: .refresh, tokenHash: hashB, at: 2_000)
            _ = try APIToken.insert(db, userID: other.id, kind: .personal, tokenHash: hashC, at: 3_000)

            #expect(try APIToken.list(db, userID: user.id).map(\.id) == [refresh.id, personal.id])
            #expect(try APIToken.list(db, userID: user.id, kind: .personal) == [personal])
            try APIToken.revoke(db, id: refresh.id, userID: user.id)
            #expect(try APIToken.list(db, userID: user.id, kind: .refresh).isEmpty)
            #expect(try APIToken.list(db, userID: user.id, kind: .refresh, includeRevoked: true).map(\.id) == [refresh.id])
        }
    }

    @Test func revokeAllRevokesOneKindOrEveryLiveToken() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db)
            let other = try TestDatabase.user(db, "other")
            _ = try APIToken.insert(db, userID: user.id, kind: .personal, tokenHash: hashA)
            _ = try APIToken.insert(db, userID: user.id, kind: .refresh, tokenHash: hashB)
            let theirs = try APIToken.insert(db, userID: other.id, kind: .refresh, tokenHash: hashC)

            #expect(try APIToken.revokeAll(db, userID: user.id, kind: .refresh) == 1)
            #expect(try APIToken.list(db, userID: user.id).map(\.kind) == [.personal])
            #expect(try APIToken.revokeAll(db, userID: user.id) == 1)
            #expect(try APIToken.list(db, userID: user.id).isEmpty)
            #expect(try APIToken.find(db, id: theirs.id)?.revokedAt == nil, "other users keep their tokens")
        }
    }

    @Test func rotationRevokesTheOldRefreshTokenAndLinksItToTheNewOne() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db)
            let old = try APIToken.insert(db, userID: user.id, kind: .refresh, name: "phone", tokenHash: hashA,
                                          expiresAt: 10_000, at: 1_000)
            let new = try #require(try APIToken.rotate(db, oldID: old.id, newTokenHash: hashB, expiresAt: 20_000, at: 2_000))
            #expect(new.userID == user.id && new.kind == .refresh && new.name == "phone")
            #expect(new.createdAt == 2_000 && new.expiresAt == 20_000 && new.isUsable(at: 2_000))
            #expect(try APIToken.find(db, tokenHash: hashB) == new)

            let retired = try #require(try APIToken.find(db, tokenHash: hashA))
            #expect(retired.revokedAt == 2_000 && retired.replacedBy == new.id)
        }
    }

    @Test func replayingARotatedRefreshTokenFailsAndChangesNothing() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db)
            let old = try APIToken.insert(db, userID: user.id, kind: .refresh, tokenHash: hashA)
            let new = try #require(try APIToken.rotate(db, oldID: old.id, newTokenHash: hashB, expiresAt: nil))

            // The thief (or the victim) presents the old token again.
            let replayed = try #require(try APIToken.find(db, tokenHash: hashA))
            #expect(replayed.revokedAt != nil && replayed.replacedBy == new.id, "the replay is recognisable")
            #expect(try APIToken.rotate(db, oldID: old.id, newTokenHash: hashC, expiresAt: nil) == nil)
            #expect(try APIToken.find(db, tokenHash: hashC) == nil)
            #expect(try APIToken.find(db, id: old.id)?.replacedBy == new.id)

            // The answer to a replay: end every session of that user.
            #expect(try APIToken.revokeAll(db, userID: user.id, kind: .refresh) == 1)
            #expect(try APIToken.find(db, id: new.id)?.isUsable(at: StoreClock.nowMilliseconds()) == false)
        }
    }

    @Test func onlyLiveRefreshTokensRotate() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db)
            let personal = try APIToken.insert(db, userID: user.id, kind: .personal, tokenHash: hashA)
            #expect(try APIToken.rotate(db, oldID: personal.id, newTokenHash: hashC, expiresAt: nil) == nil)
            let expired = try APIToken.insert(db, userID: user.id, kind: .refresh, tokenHash: hashB, expiresAt: 5_000)
            #expect(try APIToken.rotate(db, oldID: expired.id, newTokenHash: hashC, expiresAt: nil, at: 5_000) == nil)
            #expect(try APIToken.find(db, id: expired.id)?.revokedAt == nil)
            #expect(try APIToken.rotate(db, oldID: "missing", newTokenHash: hashC, expiresAt: nil) == nil)
            #expect(try APIToken.find(db, tokenHash: hashC) == nil)
        }
    }

    @Test func aRotationWhoseNewHashIsTakenRollsBackCompletely() throws {
        try TestDatabase.with { db in
            let user = try TestDatabase.user(db)
            let old = try APIToken.insert(db, userID: user.id, kind: .refresh, tokenHash: hashA)
            _ = try APIToken.insert(db, userID: user.id, kind: .personal, tokenHash: hashB)
            let error = #expect(throws: StoreError.self) {
                try APIToken.rotate(db, oldID: old.id, newTokenHash: hashB, expiresAt: nil)
            }
            #expect(error?.kind == .uniqueViolation)
            let untouched = try #require(try APIToken.find(db, id: old.id))
            #expect(untouched.revokedAt == nil && untouched.replacedBy == nil, "the old token still works")
        }
    }
}
