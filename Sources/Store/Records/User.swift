/// An account. The store keeps only the password hash the auth code produced, never a password.
///
/// Emails are unique ignoring letter case: the column is `COLLATE NOCASE`, which folds ASCII letters
/// only, so two addresses that differ just in the case of a non-ASCII letter count as different.
public struct User: Sendable, Equatable {
    /// What an account may do: admins also manage users and the server.
    public enum Role: String, Sendable, CaseIterable {
        case user, admin
    }

    public var id: String
    public var email: String
    public var displayName: String
    public var passwordHash: String
    public var role: Role
    /// A disabled account keeps its data but cannot sign in or use its tokens.
    public var isDisabled: Bool
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(id: String, email: String, displayName: String, passwordHash: String, role: Role = .user,
                isDisabled: Bool = false, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.email = email
        self.displayName = displayName
        self.passwordHash = passwordHash
        self.role = role
        self.isDisabled = isDisabled
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The listing position after this user (newest first).
    public var pageCursor: PageCursor { PageCursor(sortKey: createdAt, id: id) }
}

extension User {
    static let columns = "id, email, display_name, password_hash, role, disabled, created_at, updated_at"

    init(row: Row) throws {
        self.init(id: row.string(0), email: row.string(1), displayName: row.string(2), passwordHash: row.string(3),
                  role: try row.storedEnum(4), isDisabled: row.bool(5), createdAt: row.int64(6), updatedAt: row.int64(7))
    }

    /// Creates an account. An email already taken in any ASCII letter case throws `.uniqueViolation`.
    public static func insert(_ db: SQLiteConnection, email: String, displayName: String, passwordHash: String,
                              role: Role = .user, at now: Int64 = StoreClock.nowMilliseconds()) throws -> User {
        let user = User(id: StoreID.make(), email: email, displayName: displayName, passwordHash: passwordHash,
                        role: role, createdAt: now, updatedAt: now)
        try db.run("""
            INSERT INTO users (id, email, display_name, password_hash, role, disabled, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, 0, ?, ?)
            """, [user.id, email, displayName, passwordHash, role.rawValue, now, now])
        return user
    }

    public static func find(_ db: SQLiteConnection, id: String) throws -> User? {
        try db.queryOne("SELECT \(columns) FROM users WHERE id = ?", [id], User.init(row:))
    }

    /// Looks an email up ignoring ASCII letter case; the comparison uses the column's NOCASE collation,
    /// so it is answered from the UNIQUE index.
    public static func find(_ db: SQLiteConnection, email: String) throws -> User? {
        try db.queryOne("SELECT \(columns) FROM users WHERE email = ?", [email], User.init(row:))
    }

    /// Every account, newest first, `limit` at a time (clamped to 1…1000).
    public static func list(_ db: SQLiteConnection, cursor: PageCursor? = nil, limit: Int = 50) throws -> Page<User> {
        let limit = keysetLimit(limit)
        let rows: [User]
        if let cursor {
            // The same key twice (<= then <) rather than a row value: it reads as a range on created_at.
            rows = try db.query("""
                SELECT \(columns) FROM users
                WHERE created_at <= ?1 AND (created_at < ?1 OR id < ?2)
                ORDER BY created_at DESC, id DESC LIMIT ?3
                """, [cursor.sortKey, cursor.id, limit + 1], User.init(row:))
        } else {
            rows = try db.query("SELECT \(columns) FROM users ORDER BY created_at DESC, id DESC LIMIT ?",
                                [limit + 1], User.init(row:))
        }
        return Page(keysetRows: rows, limit: limit, cursor: \.pageCursor)
    }

    /// Returns whether the user exists.
    @discardableResult
    public static func setDisabled(_ db: SQLiteConnection, id: String, isDisabled disabled: Bool,
                                   at now: Int64 = StoreClock.nowMilliseconds()) throws -> Bool {
        try db.run("UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?", [disabled, now, id]) > 0
    }

    /// Changes the fields given (nil keeps the stored value) and returns the updated user, or nil when
    /// there is none with that id.
    public static func update(_ db: SQLiteConnection, id: String, displayName: String? = nil,
                              passwordHash: String? = nil, role: Role? = nil,
                              at now: Int64 = StoreClock.nowMilliseconds()) throws -> User? {
        try db.queryOne("""
            UPDATE users SET display_name = COALESCE(?, display_name), password_hash = COALESCE(?, password_hash),
                role = COALESCE(?, role), updated_at = ?
            WHERE id = ? RETURNING \(columns)
            """, [displayName, passwordHash, role?.rawValue, now, id], User.init(row:))
    }

    /// Admins who can still sign in: what "do not remove the last admin" checks must count.
    public static func countAdmins(_ db: SQLiteConnection) throws -> Int {
        try db.queryOne("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0") { $0.int(0) } ?? 0
    }
}

// MARK: Helpers shared by the core records

extension Row {
    /// Reads a TEXT enumeration. The schema's CHECK constraints keep other values out, so one that
    /// gets through means the file was written by something else: a decoding error, not a crash.
    func storedEnum<Value: RawRepresentable>(_ index: Int) throws(StoreError) -> Value where Value.RawValue == String {
        let raw = string(index)
        guard let value = Value(rawValue: raw) else {
            throw StoreError(kind: .decoding, message: "unexpected \(Value.self) value '\(raw)' in column \(index)")
        }
        return value
    }
}
