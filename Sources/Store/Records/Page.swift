/// One page of a keyset-paginated listing. `nextCursor` is nil on the last page.
///
/// Keyset (not OFFSET) pagination: a cursor names the last row's sort key and id, so rows added
/// while a client pages never shift or repeat what it sees.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

/// The position after a row in a listing ordered by (sort key, id): opaque to clients.
public struct PageCursor: Sendable, Equatable {
    /// The sort column's value of the last row seen (a time, a rating × 1000, a count…).
    public var sortKey: Int64
    /// The last row's id, which breaks ties between equal sort keys.
    public var id: String

    public init(sortKey: Int64, id: String) {
        self.sortKey = sortKey
        self.id = id
    }

    /// base64url of "sortKey:id".
    public var encoded: String {
        StoreID.base64URL(Array("\(sortKey):\(id)".utf8))
    }

    /// nil for anything that is not a cursor this store produced (callers answer 400).
    public init?(encoded: String) {
        guard encoded.utf8.count <= 256, let bytes = Self.decodeBase64URL(encoded),
              let text = String(validating: bytes, as: UTF8.self),
              let colon = text.firstIndex(of: ":"), let key = Int64(text[..<colon]) else { return nil }
        let id = String(text[text.index(after: colon)...])
        guard !id.isEmpty else { return nil }
        self.init(sortKey: key, id: id)
    }

    private static func decodeBase64URL(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(byte - 65)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(byte - 97 + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(byte - 48 + 52)
            case UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "_"): values.append(63)
            default: return nil
            }
        }
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < values.count {
            let chunk = values[i..<min(i + 4, values.count)]
            var n: UInt32 = 0
            for (k, v) in chunk.enumerated() { n |= UInt32(v) << (18 - 6 * UInt32(k)) }
            out.append(UInt8(n >> 16 & 0xff))
            if chunk.count > 2 { out.append(UInt8(n >> 8 & 0xff)) }
            if chunk.count > 3 { out.append(UInt8(n & 0xff)) }
            i += 4
        }
        return out
    }
}

/// The page size every keyset listing accepts: at least one row, so a page always moves the cursor,
/// and at most 100, so a client cannot ask for a whole table in one request.
func keysetLimit(_ requested: Int) -> Int { min(max(requested, 1), 100) }

extension Page {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only proves a next page exists,
    /// which saves clients a last, empty request.
    init<Fetched>(keysetRows rows: [Fetched], limit: Int, item: (Fetched) -> Item, cursor: (Fetched) -> PageCursor) {
        let kept = rows.prefix(limit)
        self.init(items: kept.map(item), nextCursor: rows.count > limit ? kept.last.map(cursor)?.encoded : nil)
    }

    /// The same, when the fetched rows are the items.
    init(keysetRows rows: [Item], limit: Int, cursor: (Item) -> PageCursor) {
        self.init(keysetRows: rows, limit: limit, item: { $0 }, cursor: cursor)
    }
}
