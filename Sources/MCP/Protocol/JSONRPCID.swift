import Net

/// A JSON-RPC 2.0 request id: a string or an integer, never null for requests. Ours are integers;
/// servers may use either for the requests they send us, and we echo theirs back unchanged.
public enum JSONRPCID: Sendable, Hashable, CustomStringConvertible {
    case number(Int64)
    case string(String)

    var json: JSONValue {
        switch self {
        case .number(let value): .number(Double(value))
        case .string(let value): .string(value)
        }
    }

    /// nil for anything JSON-RPC does not allow as an id (null, fractions, objects).
    init?(json: JSONValue) {
        switch json {
        case .string(let value): self = .string(value)
        case .number(let value):
            guard value.rounded() == value, abs(value) < 9.0e15 else { return nil }
            self = .number(Int64(value))
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .number(let value): String(value)
        case .string(let value): "\"\(value)\""
        }
    }
}
