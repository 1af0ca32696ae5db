import CSQLite

/// A value SQLite stores: the five storage classes.
public enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value that binds to a statement parameter.
public protocol SQLiteBindable: Sendable {
    var sqliteValue: SQLiteValue { get }
}

extension Int: SQLiteBindable { public var sqliteValue: SQLiteValue { .integer(Int64(self)) } }
extension Int64: SQLiteBindable { public var sqliteValue: SQLiteValue { .integer(self) } }
extension Int32: SQLiteBindable { public var sqliteValue: SQLiteValue { .integer(Int64(self)) } }
extension Bool: SQLiteBindable { public var sqliteValue: SQLiteValue { .integer(self ? 1 : 0) } }
extension Double: SQLiteBindable { public var sqliteValue: SQLiteValue { .real(self) } }
extension String: SQLiteBindable { public var sqliteValue: SQLiteValue { .text(self) } }
extension Substring: SQLiteBindable { public var sqliteValue: SQLiteValue { .text(String(self)) } }
extension Array: SQLiteBindable where Element == UInt8 { public var sqliteValue: SQLiteValue { .blob(self) } }
extension SQLiteValue: SQLiteBindable { public var sqliteValue: SQLiteValue { self } }
extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    public var sqliteValue: SQLiteValue { self?.sqliteValue ?? .null }
}

/// One result row. It reads the live statement, so use it only inside the closure that receives it.
public struct Row {
    let statement: OpaquePointer

    /// Number of columns.
    public var count: Int { Int(sqlite3_column_count(statement)) }

    public func isNull(_ index: Int) -> Bool {
        sqlite3_column_type(statement, Int32(index)) == SQLITE_NULL
    }

    public func int(_ index: Int) -> Int {
        Int(sqlite3_column_int64(statement, Int32(index)))
    }

    public func int64(_ index: Int) -> Int64 {
        sqlite3_column_int64(statement, Int32(index))
    }

    public func double(_ index: Int) -> Double {
        sqlite3_column_double(statement, Int32(index))
    }

    public func bool(_ index: Int) -> Bool {
        sqlite3_column_int64(statement, Int32(index)) != 0
    }

    /// Text; an SQL NULL reads as "".
    public func string(_ index: Int) -> String {
        guard let text = sqlite3_column_text(statement, Int32(index)) else { return "" }
        let length = Int(sqlite3_column_bytes(statement, Int32(index)))
        return String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self)
    }

    public func blob(_ index: Int) -> [UInt8] {
        let length = Int(sqlite3_column_bytes(statement, Int32(index)))
        guard length > 0, let bytes = sqlite3_column_blob(statement, Int32(index)) else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: length))
    }

    public func optionalInt(_ index: Int) -> Int? { isNull(index) ? nil : int(index) }
    public func optionalInt64(_ index: Int) -> Int64? { isNull(index) ? nil : int64(index) }
    public func optionalDouble(_ index: Int) -> Double? { isNull(index) ? nil : double(index) }
    public func optionalString(_ index: Int) -> String? { isNull(index) ? nil : string(index) }

    /// The column as a storage-class value, for generic code and tests.
    public func value(_ index: Int) -> SQLiteValue {
        switch sqlite3_column_type(statement, Int32(index)) {
        case SQLITE_INTEGER: .integer(int64(index))
        case SQLITE_FLOAT: .real(double(index))
        case SQLITE_TEXT: .text(string(index))
        case SQLITE_BLOB: .blob(blob(index))
        default: .null
        }
    }
}
