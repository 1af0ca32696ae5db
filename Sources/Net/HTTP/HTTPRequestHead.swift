/// The protocol version of a message. The parser only ever produces 1.0 and 1.1, but the type is open
/// so that responses and tests can name any version.
public struct HTTPVersion: Sendable, Equatable {
    public var major: Int
    public var minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// A later 1.x is read as 1.1, as RFC 9110 §2.5 asks; any other major version is well-formed but
    /// not spoken here, which is 505 rather than 400.
    init(requestLine bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count == 8, bytes.starts(with: "HTTP/".utf8), HTTPGrammar.isDigit(bytes[5]),
              bytes[6] == UInt8(ascii: "."), HTTPGrammar.isDigit(bytes[7]) else {
            throw HTTPParseError.malformedRequestLine("the version must be written like HTTP/1.1")
        }
        guard bytes[5] == UInt8(ascii: "1") else { throw HTTPParseError.unsupportedVersion }
        self = bytes[7] == UInt8(ascii: "0") ? .http1_0 : .http1_1
    }
}

/// A request method. Methods are an open, case-sensitive set (RFC 9110 §9.1), so the parser accepts any
/// token and leaves it to routing to decide which methods a resource allows.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public static let get = HTTPMethod(rawValue: "GET")
    public static let head = HTTPMethod(rawValue: "HEAD")
    public static let post = HTTPMethod(rawValue: "POST")
    public static let put = HTTPMethod(rawValue: "PUT")
    public static let patch = HTTPMethod(rawValue: "PATCH")
    public static let delete = HTTPMethod(rawValue: "DELETE")
    public static let options = HTTPMethod(rawValue: "OPTIONS")
    public static let connect = HTTPMethod(rawValue: "CONNECT")
    public static let trace = HTTPMethod(rawValue: "TRACE")
}

/// How a request body is delimited (RFC 9112 §6.3), decided once from the header section.
public enum HTTPBodyFraming: Sendable, Equatable {
    /// Neither Content-Length nor Transfer-Encoding was sent, so the request has no body.
    case none
    /// Content-Length, including an explicit `Content-Length: 0`.
    case length(Int)
    case chunked
}

/// Header fields in arrival order. Order and repeats are kept because some fields (Set-Cookie, lists
/// split over several lines) mean something different when merged; names compare case-insensitively.
public struct HTTPHeaders: Sendable, Sequence {
    private var fields: [(name: String, value: String)]

    public init() {
        fields = []
    }

    public init(_ pairs: [(String, String)]) {
        fields = pairs.map { (name: $0.0, value: $0.1) }
    }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    /// The first value for `name`.
    public subscript(name: String) -> String? {
        fields.first { HTTPGrammar.equalsIgnoringCase($0.name.utf8, name.utf8) }?.value
    }

    public func values(_ name: String) -> [String] {
        fields.compactMap { HTTPGrammar.equalsIgnoringCase($0.name.utf8, name.utf8) ? $0.value : nil }
    }

    public func contains(_ name: String) -> Bool {
        fields.contains { HTTPGrammar.equalsIgnoringCase($0.name.utf8, name.utf8) }
    }

    /// Whether any `name` field lists `token` (RFC 9110 §5.6.1), so that "Connection: keep-alive, Upgrade"
    /// and the same tokens spread over several Connection lines answer alike.
    public func containsToken(_ token: String, in name: String) -> Bool {
        fields.contains { field in
            guard HTTPGrammar.equalsIgnoringCase(field.name.utf8, name.utf8) else { return false }
            var value = field.value
            return value.withUTF8 { utf8 in
                HTTPListElements(UnsafeRawBufferPointer(utf8)).contains {
                    HTTPGrammar.equalsIgnoringCase($0, token.utf8)
                }
            }
        }
    }

    public mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// Sets the first `name` field in place, keeping its position, and drops any repeats.
    public mutating func replaceOrAdd(_ name: String, _ value: String) {
        guard let first = fields.firstIndex(where: { HTTPGrammar.equalsIgnoringCase($0.name.utf8, name.utf8) }) else {
            return add(name, value)
        }
        fields[first].value = value
        fields[(first + 1)...].removeAll { HTTPGrammar.equalsIgnoringCase($0.name.utf8, name.utf8) }
    }

    public mutating func remove(_ name: String) {
        fields.removeAll { HTTPGrammar.equalsIgnoringCase($0.name.utf8, name.utf8) }
    }

    /// Lets the parser size the storage once per request instead of growing it field by field.
    mutating func reserveCapacity(_ capacity: Int) {
        fields.reserveCapacity(capacity)
    }
}

/// The request line and header section of a request, with the framing and connection decisions that
/// follow from them already made, so the server never has to re-interpret header values.
public struct HTTPRequestHead: Sendable {
    public var method: HTTPMethod
    /// The request-target exactly as sent.
    public var target: String
    /// The target before '?', not percent-decoded; for absolute-form the path of the URI ("/" if empty).
    /// CONNECT's authority-form and OPTIONS' "*" have no path, so they are repeated here unchanged.
    public var path: String
    /// The text after the first '?', or nil when the target has no '?'.
    public var query: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// RFC 9112 §9.3: HTTP/1.1 is persistent unless "Connection: close"; 1.0 only with "Connection: keep-alive".
    public var keepAlive: Bool
    /// "Expect: 100-continue" on HTTP/1.1; the server may answer 100 Continue before reading the body.
    public var expectsContinue: Bool
    public var body: HTTPBodyFraming

    public init(method: HTTPMethod, target: String, path: String, query: String? = nil,
                version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(), keepAlive: Bool = true,
                expectsContinue: Bool = false, body: HTTPBodyFraming = .none) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
        self.body = body
    }
}

/// Byte classes of RFC 9110 §5.6 and RFC 9112, shared by the parser and header lookups.
enum HTTPGrammar {
    static let lf = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")

    /// tchar as bitmasks over the two halves of ASCII: the check runs for every byte of every method and
    /// field name, and a shift beats a chain of range comparisons.
    private static let tokenLow: UInt64 = 0x03FF_6CFA_0000_0000
    private static let tokenHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    static func isTokenChar(_ byte: UInt8) -> Bool {
        let mask = byte < 64 ? tokenLow : (byte < 128 ? tokenHigh : 0)
        return (mask >> UInt64(byte & 63)) & 1 == 1
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == tab
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte &- UInt8(ascii: "0") < 10
    }

    /// Field values may carry HTAB and obs-text but no other control byte (RFC 9110 §5.5); a CR here is
    /// always a bare CR, because line ends have been stripped before values are looked at.
    static func isFieldValueChar(_ byte: UInt8) -> Bool {
        (byte >= space && byte != 0x7F) || byte == tab
    }

    static func equalsIgnoringCase<Bytes: Collection<UInt8>>(_ a: Bytes, _ b: String.UTF8View) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { lowercased($0) == lowercased($1) }
    }

    /// The parser's variant: every field it interprets is compared against a few fixed names, and raw
    /// pointer access to a literal keeps that out of the per-field cost.
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<bytes.count where lowercased(bytes[index]) != expected[index] { return false }
        return true
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }

    static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var low = 0
        var high = bytes.count
        while low < high && isWhitespace(bytes[low]) { low += 1 }
        while high > low && isWhitespace(bytes[high - 1]) { high -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[low..<high])
    }

    /// Splits "name: value" and checks both halves (RFC 9112 §5); the value comes back without OWS.
    static func splitField(_ line: UnsafeRawBufferPointer) throws -> (name: UnsafeRawBufferPointer,
                                                                      value: UnsafeRawBufferPointer) {
        guard !isWhitespace(line[0]) else {
            throw HTTPParseError.malformedHeader("a line starts with whitespace (obsolete line folding is not allowed)")
        }
        var colon = 0
        while colon < line.count && isTokenChar(line[colon]) { colon += 1 }
        let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
        guard colon < line.count, line[colon] == self.colon, colon > 0 else {
            if colon == line.count {
                throw HTTPParseError.malformedHeader("the line \"\(quoted(line))\" has no colon")
            }
            if isWhitespace(line[colon]) {
                throw HTTPParseError.malformedHeader("whitespace between field name \"\(quoted(name))\" and colon")
            }
            throw HTTPParseError.malformedHeader("the field name in \"\(quoted(line))\" is not a valid token")
        }
        let value = trimmed(UnsafeRawBufferPointer(rebasing: line[(colon + 1)...]))
        guard value.allSatisfy(isFieldValueChar) else {
            throw HTTPParseError.malformedHeader("the value of \"\(quoted(name))\" contains a control character")
        }
        return (name, value)
    }

    static func hexValue(_ byte: UInt8) -> Int? {
        if isDigit(byte) { return Int(byte - UInt8(ascii: "0")) }
        let letter = (byte | 0x20) &- UInt8(ascii: "a")
        return letter < 6 ? Int(letter) + 10 : nil
    }

    static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Client text echoed in an error message: cut short so a hostile value cannot bloat the response, and
    /// with anything but printable ASCII masked, since the text is often wrong precisely because of such bytes.
    static func quoted(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes.prefix(64).map { $0 >= space && $0 < 0x7F ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}

/// The elements of a comma-separated field value (RFC 9110 §5.6.1), OWS trimmed. Empty elements (and an
/// empty value, as one empty element) are yielded rather than skipped: the list rule says to ignore them,
/// but an empty Content-Length must not silently mean "no body".
struct HTTPListElements: Sequence, IteratorProtocol {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func next() -> UnsafeRawBufferPointer? {
        guard position <= bytes.count else { return nil }
        var end = position
        while end < bytes.count && bytes[end] != HTTPGrammar.comma { end += 1 }
        let element = UnsafeRawBufferPointer(rebasing: bytes[position..<end])
        position = end + 1
        return HTTPGrammar.trimmed(element)
    }
}

/// The request-target forms of RFC 9112 §3.2, each accepted only with the method it belongs to.
enum HTTPRequestTarget {
    private static let slash = UInt8(ascii: "/")
    private static let questionMark = UInt8(ascii: "?")

    /// `bytes` are the target's bytes and `target` the same as a String, which is reused as the path
    /// whenever the two are equal so the common request allocates nothing more.
    static func pathAndQuery(_ bytes: UnsafeRawBufferPointer, _ target: String,
                             method: HTTPMethod) throws -> (path: String, query: String?) {
        let pathStart: Int
        if method == .connect {
            guard isAuthorityForm(bytes) else {
                throw HTTPParseError.malformedRequestLine("CONNECT needs a host:port target")
            }
            return (target, nil)
        } else if bytes[0] == slash {
            pathStart = 0
        } else if bytes.count == 1 && bytes[0] == UInt8(ascii: "*") {
            guard method == .options else {
                throw HTTPParseError.malformedRequestLine("the target \"*\" is only allowed with OPTIONS")
            }
            return (target, nil)
        } else {
            pathStart = try absoluteFormPathStart(bytes)
        }
        let queryMark = bytes[pathStart...].firstIndex(of: questionMark) ?? bytes.count
        let query = queryMark < bytes.count
            ? HTTPGrammar.string(UnsafeRawBufferPointer(rebasing: bytes[(queryMark + 1)...])) : nil
        if pathStart == 0 && query == nil { return (target, nil) }
        // An absolute URI with an empty path names the root (RFC 9110 §4.2.3).
        let path = pathStart == queryMark ? "/"
            : HTTPGrammar.string(UnsafeRawBufferPointer(rebasing: bytes[pathStart..<queryMark]))
        return (path, query)
    }

    private static func isAuthorityForm(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let colon = bytes.lastIndex(of: HTTPGrammar.colon), colon > 0, colon + 1 < bytes.count else {
            return false
        }
        return bytes[(colon + 1)...].allSatisfy(HTTPGrammar.isDigit)
            && !bytes.contains { $0 == slash || $0 == questionMark || $0 == UInt8(ascii: "@") }
    }

    /// Where the path of "scheme://authority/path?query" begins. Only the path is split out because the
    /// server routes on it; `target` keeps the whole URI, authority included, for anyone who needs it.
    private static func absoluteFormPathStart(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        var index = 0
        while index < bytes.count && isSchemeChar(bytes[index], first: index == 0) { index += 1 }
        guard index > 0, index + 2 < bytes.count, bytes[index] == HTTPGrammar.colon,
              bytes[index + 1] == slash, bytes[index + 2] == slash else {
            throw HTTPParseError.malformedRequestLine(
                "the target must be a path, an absolute URI, host:port for CONNECT or * for OPTIONS")
        }
        let authorityStart = index + 3
        index = authorityStart
        while index < bytes.count && bytes[index] != slash && bytes[index] != questionMark { index += 1 }
        guard index > authorityStart else {
            throw HTTPParseError.malformedRequestLine("the absolute URI has no authority")
        }
        return index
    }

    private static func isSchemeChar(_ byte: UInt8, first: Bool) -> Bool {
        let isLetter = (byte | 0x20) &- UInt8(ascii: "a") < 26
        if first { return isLetter }
        return isLetter || HTTPGrammar.isDigit(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: ".")
    }
}
