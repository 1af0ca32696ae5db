/// A bearer credential: a personal API token (shown once, used until revoked) or a refresh token
/// (rotated on every use). Only a hash of the secret is stored, so a leaked database leaks no tokens.
///
/// Revoked and expired rows are kept: a revoked refresh token presented again is the sign that it was
/// stolen and replayed, which only a remembered row can reveal.
public struct APIToken: Sendable, Equatable {
    /// Which flow a token belongs to.
    public enum Kind: String, Sendable, CaseIterable {
        case personal, refresh
    }

    public var id: String
    public var userID: String
    public var kind: Kind
    /// The label the user gave a personal token; refresh tokens carry their session's label.
    public var name: String
    public var tokenHash: [UInt8]
    public var createdAt: Int64
    public var expiresAt: Int64?
    public var lastUsedAt: Int64?
    public var revokedAt: Int64?
    /// The token a refresh token was rotated into.
    public var replacedBy: String?

    public init(id: String, userID: String, kind: Kind, name: String = "", tokenHash: [UInt8], createdAt: Int64,
                expiresAt: Int64? = nil, lastUsedAt: Int64? = nil, revokedAt: Int64? = nil, replacedBy: String? = nil) {
        self.id = id
        self.userID = userID
        self.kind = kind
        self.name = name
        self.tokenHash = tokenHash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
        self.replacedBy = replacedBy
    }

    /// Whether the token may authenticate a request at `time`: not revoked and not yet expired.
    public func isUsable(at time: Int64) -> Bool {
        revokedAt == nil && (expiresAt.map { time < $0 } ?? true)
    }
}

extension APIToken {
    static let columns = "id, user_id, kind, name, token_hash, created_at, expires_at, last_used_at, revoked_at, replaced_by"

    init(row: Row) throws {
        self.init(id: row.string(0), userID: row.string(1), kind: try row.storedEnum(2), name: row.string(3),
                  tokenHash: row.blob(4), createdAt: row.int64(5), expiresAt: row.optionalInt64(6),
                  lastUsedAt: row.optionalInt64(7), revokedAt: row.optionalInt64(8), replacedBy: row.optionalString(9))
    }

    /// Stores a new token. A hash already stored throws `.uniqueViolation`; a missing user throws
    /// `.foreignKeyViolation`.
    public static func insert(_ db: SQLiteConnection, userID: String, kind: Kind, name: String = "",
                              tokenHash: [UInt8], expiresAt: Int64? = nil,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> APIToken {
        let token = APIToken(id: StoreID.make(), userID: userID, kind: kind, name: name, tokenHash: tokenHash,
                             createdAt: now, expiresAt: expiresAt)
        try db.run("""
            INSERT INTO api_tokens (id, user_id, kind, name, token_hash, created_at, expires_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [token.id, userID, kind.rawValue, name, tokenHash, now, expiresAt])
        return token
    }

    public static func find(_ db: SQLiteConnection, id: String) throws -> APIToken? {
        try db.queryOne("SELECT \(columns) FROM api_tokens WHERE id = ?", [id], APIToken.init(row:))
    }

    /// The token with this hash, even when revoked or expired: the caller checks `isUsable(at:)`, and a
    /// revoked refresh token found here is a replay.
    public static func find(_ db: SQLiteConnection, tokenHash: [UInt8]) throws -> APIToken? {
        try db.queryOne("SELECT \(columns) FROM api_tokens WHERE token_hash = ?", [tokenHash], APIToken.init(row:))
    }

    /// A user's tokens, newest first; `kind` nil means both kinds. Revoked tokens are left out unless
    /// asked for, because every refresh leaves one behind.
    public static func list(_ db: SQLiteConnection, userID: String, kind: Kind? = nil,
                            includeRevoked: Bool = false) throws -> [APIToken] {
        try db.query("""
            SELECT \(columns) FROM api_tokens
            WHERE user_id = ?1 AND (?2 IS NULL OR kind = ?2) AND (?3 OR revoked_at IS NULL)
            ORDER BY created_at DESC, id DESC
            """, [userID, kind?.rawValue, includeRevoked], APIToken.init(row:))
    }

    /// Records a use. Returns whether the token exists.
    @discardableResult
    public static func touch(_ db: SQLiteConnection, id: String, at now: Int64 = StoreClock.nowMilliseconds()) throws -> Bool {
        try db.run("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [now, id]) > 0
    }

    /// Revokes one of `userID`'s tokens. Returns false when the token is missing, belongs to someone
    /// else or was already revoked (its first revocation time is kept).
    @discardableResult
    public static func revoke(_ db: SQLiteConnection, id: String, userID: String,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> Bool {
        try db.run("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                   [now, id, userID]) > 0
    }

    /// Revokes every live token of a user (of one kind, or all when `kind` is nil): sign-out
    /// everywhere, a password change, or the answer to a replayed refresh token. Returns how many.
    @discardableResult
    public static func revokeAll(_ db: SQLiteConnection, userID: String, kind: Kind? = nil,
                                 at now: Int64 = StoreClock.nowMilliseconds()) throws -> Int {
        try db.run("""
            UPDATE api_tokens SET revoked_at = ?1
            WHERE user_id = ?2 AND (?3 IS NULL OR kind = ?3) AND revoked_at IS NULL
            """, [now, userID, kind?.rawValue])
    }

    /// Exchanges a live refresh token for a new one, in one savepoint: the old token is revoked and
    /// points at its replacement. Returns nil, changing nothing, when the old token is missing, not a
    /// refresh token, expired, or already revoked — the last case is a replay and the caller should
    /// `revokeAll` the user's refresh tokens.
    public static func rotate(_ db: SQLiteConnection, oldID: String, newTokenHash: [UInt8], expiresAt: Int64?,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> APIToken? {
        try db.savepoint {
            // Revoking first, guarded by `revoked_at IS NULL`, is what makes two racing rotations of the
            // same token end with exactly one winner.
            let old = try db.queryOne("""
                UPDATE api_tokens SET revoked_at = ?1
                WHERE id = ?2 AND kind = 'refresh' AND revoked_at IS NULL
                    AND (expires_at IS NULL OR expires_at > ?1)
                RETURNING user_id, name
                """, [now, oldID]) { (userID: $0.string(0), name: $0.string(1)) }
            guard let old else { return nil }
            let token = try insert(db, userID: old.userID, kind: .refresh, name: old.name, tokenHash: newTokenHash,
                                   expiresAt: expiresAt, at: now)
            try db.run("UPDATE api_tokens SET replaced_by = ? WHERE id = ?", [token.id, oldID])
            return token
        }
    }
}
