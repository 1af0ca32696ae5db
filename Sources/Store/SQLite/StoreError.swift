import CSQLite

/// Why a store operation failed. SQLite failures keep SQLite's own code and message.
public struct StoreError: Error, Equatable, CustomStringConvertible, Sendable {
    /// What kind of failure, for callers that branch on it (a unique violation becomes 409, busy 503…).
    public enum Kind: Sendable, Equatable {
        /// Any SQLite error not classified below.
        case sqlite
        /// A UNIQUE or PRIMARY KEY constraint failed: the row already exists.
        case uniqueViolation
        /// A FOREIGN KEY constraint failed: the referenced row does not exist.
        case foreignKeyViolation
        /// A CHECK or NOT NULL constraint failed.
        case constraintViolation
        /// The write queue is full or the database is locked past the busy timeout.
        case busy
        /// The database was written by a newer binary.
        case schemaTooNew
        /// The writer has been closed.
        case closed
        /// A row did not have the shape its decoder expected.
        case decoding
    }

    public let kind: Kind
    /// SQLite's extended result code, or 0 when the error did not come from SQLite.
    public let code: Int32
    public let message: String

    public init(kind: Kind, code: Int32 = 0, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    /// Classifies an SQLite result code.
    init(sqliteCode: Int32, message: String) {
        let kind: Kind
        switch sqliteCode {
        case csqlite_constraint_unique, csqlite_constraint_primarykey: kind = .uniqueViolation
        case csqlite_constraint_foreignkey: kind = .foreignKeyViolation
        case _ where sqliteCode & 0xff == SQLITE_CONSTRAINT: kind = .constraintViolation
        case _ where sqliteCode & 0xff == SQLITE_BUSY || sqliteCode & 0xff == SQLITE_LOCKED: kind = .busy
        default: kind = .sqlite
        }
        self.init(kind: kind, code: sqliteCode, message: message)
    }

    public var description: String {
        code == 0 ? message : "\(message) (SQLite \(code))"
    }
}
