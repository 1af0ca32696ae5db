/// A JSON-RPC 2.0 request id: a string or an integer, never null for requests (issue 5 builds the
/// client on this).
public enum JSONRPCID: Sendable, Hashable {
    case number(Int64)
    case string(String)
}
