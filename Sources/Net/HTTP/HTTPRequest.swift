/// A whole request as a handler sees it.
public struct HTTPRequest: Sendable {
    /// Request line and headers.
    public let head: HTTPRequestHead
    /// The body, complete (bounded by the parser's limit).
    public var body: [UInt8]
    /// Values for `:name` segments of the matched route.
    public var parameters: [String: String]
    /// The peer, "host:port".
    public let remoteAddress: String
    /// Unique per request, for logs and error reports: "<connection>-<sequence>".
    public let requestID: String
    /// The index of the event loop serving the request: handlers that answer at once use that loop's
    /// database reader.
    public var loopIndex: Int = 0

    public var method: HTTPMethod { head.method }
    public var path: String { head.path }
    public var headers: HTTPHeaders { head.headers }

    public init(head: HTTPRequestHead, body: [UInt8], parameters: [String: String] = [:],
                remoteAddress: String, requestID: String) {
        self.head = head
        self.body = body
        self.parameters = parameters
        self.remoteAddress = remoteAddress
        self.requestID = requestID
    }

    /// Query parameters, percent-decoded; a repeated name keeps its last value.
    public var queryItems: [String: String] {
        guard let query = head.query, !query.isEmpty else { return [:] }
        var items: [String: String] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = PercentDecoding.decode(parts[0], plusIsSpace: true) ?? String(parts[0])
            let value = parts.count > 1 ? (PercentDecoding.decode(parts[1], plusIsSpace: true) ?? String(parts[1])) : ""
            items[name] = value
        }
        return items
    }
}

/// Percent-decoding for paths and query strings (RFC 3986 §2.1).
public enum PercentDecoding {
    /// nil when an escape is malformed or the result is not UTF-8.
    public static func decode<S: StringProtocol>(_ text: S, plusIsSpace: Bool = false) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else if plusIsSpace && byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
