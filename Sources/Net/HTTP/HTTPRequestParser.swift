/// Bounds that stop a slow or hostile client from making the parser buffer, count or accept without end.
public struct HTTPParserLimits: Sendable {
    /// Request line plus all header lines, line ends included. A chunked body's trailer section gets
    /// the same allowance of its own.
    public var maxHeaderBytes: Int
    /// Header fields per request; trailer fields are counted separately against the same number.
    public var maxHeaderCount: Int
    /// Content-Length, or the running total of chunk sizes.
    public var maxBodyBytes: Int

    public init(maxHeaderBytes: Int = 16 * 1024, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1 << 20) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// Why a request was rejected. Every case is fatal to the connection: after it the byte stream can no
/// longer be trusted to be at a message boundary.
public enum HTTPParseError: Error, Equatable, Sendable {
    case malformedRequestLine(String)
    case malformedHeader(String)
    case headerTooLarge
    case bodyTooLarge
    case unsupportedTransferCoding(String)
    case invalidContentLength
    case malformedChunk(String)
    case unsupportedVersion
    case unsupportedExpectation(String)
    case missingHost

    /// The response status to send before closing.
    public var status: Int {
        switch self {
        case .malformedRequestLine, .malformedHeader, .invalidContentLength, .malformedChunk, .missingHost: 400
        case .headerTooLarge: 431
        case .bodyTooLarge: 413
        case .unsupportedTransferCoding: 501
        case .unsupportedVersion: 505
        case .unsupportedExpectation: 417
        }
    }

    /// A sentence for the client saying what was wrong with its request.
    public var message: String {
        switch self {
        case .malformedRequestLine(let detail): "Malformed request line: \(detail)."
        case .malformedHeader(let detail): "Malformed header field: \(detail)."
        case .headerTooLarge: "The request line and header fields exceed the server's size or field-count limit."
        case .bodyTooLarge: "The request body exceeds the server's size limit."
        case .unsupportedTransferCoding(let coding):
            "Transfer coding \"\(coding)\" is not supported; only chunked is."
        case .invalidContentLength:
            "Content-Length must be a single non-negative decimal integer, and repeated values must agree."
        case .malformedChunk(let detail): "Malformed chunked body: \(detail)."
        case .unsupportedVersion: "HTTP version not supported; use HTTP/1.1 or HTTP/1.0."
        case .unsupportedExpectation(let expectation):
            "Expectation \"\(expectation)\" is not supported; only 100-continue is."
        case .missingHost: "An HTTP/1.1 request must have exactly one Host header field."
        }
    }
}

/// What the parser reports, in order: one `head`, any number of `body` pieces, one `end`.
public enum HTTPParserEvent {
    case head(HTTPRequestHead)
    /// Points into the caller's input, so it is valid only during the callback.
    case body(UnsafeRawBufferPointer)
    case end
}

/// An incremental HTTP/1.1 request parser (RFC 9112). Between calls it keeps only the unfinished line and
/// what the finished ones meant, so memory is bounded by the limits, and body bytes are handed straight
/// through from the caller's buffer.
public struct HTTPRequestParser: Sendable {
    private enum LineKind: Sendable {
        case requestLine, header, chunkSize, trailer
    }

    private enum State: Sendable {
        case line(LineKind)
        case body(remaining: Int, chunked: Bool)
        case chunkDataEnd(sawCR: Bool)
        case failed(any Error)
    }

    /// What the header section has said so far. Framing depends on all of it together, so the decisions
    /// wait for the empty line that ends the section.
    private struct PendingHead: Sendable {
        var method = HTTPMethod.get, target = "", path = "", query: String? = nil, version = HTTPVersion.http1_1
        var headers = HTTPHeaders()
        var hostCount = 0, contentLength: Int? = nil, badExpectation: String? = nil
        var hasTransferEncoding = false, chunked = false, close = false, keepAlive = false, expectsContinue = false
    }

    /// Extensions are skipped, never used, so this only caps how much of them a client may make us skip.
    private static let maxChunkSizeLineBytes = 4 * 1024

    private let limits: HTTPParserLimits
    private var state = State.line(.requestLine)
    private var partialLine: [UInt8] = []
    /// Bytes of the current section (request line and headers, trailers, or one chunk-size line),
    /// counted as they arrive so an endless line fails when it crosses the limit, not when it ends.
    private var sectionBytes = 0
    private var trailerCount = 0
    private var bodyBytes = 0
    private var head = PendingHead()

    public init(limits: HTTPParserLimits = .init()) {
        self.limits = limits
    }

    /// True between requests with no partial bytes buffered, so the server can tell an idle keep-alive
    /// connection from a slow client.
    public var isIdle: Bool {
        if case .line(.requestLine) = state { return partialLine.isEmpty }
        return false
    }

    /// Feeds bytes. Consumes every byte it is given, EXCEPT that it returns right after emitting `.end`
    /// for a request, so the caller handles one request at a time (pipelining) and re-presents the rest
    /// later. Header bytes are buffered inside the parser across calls (bounded by maxHeaderBytes).
    /// After it throws, the parser is dead (the connection will be closed after an error response), and
    /// further calls rethrow the same error; an error thrown by `emit` kills it the same way.
    /// `.head` is emitted as soon as the header block is complete (before any body), so a server can send
    /// "100 Continue". A request with no body emits `.head` then `.end` in the same call.
    public mutating func parse(_ input: UnsafeRawBufferPointer,
                               _ emit: (HTTPParserEvent) throws -> Void) throws -> Int {
        if case .failed(let error) = state { throw error }
        do {
            return try consume(input, emit)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func consume(_ input: UnsafeRawBufferPointer,
                                  _ emit: (HTTPParserEvent) throws -> Void) throws -> Int {
        var index = 0
        while index < input.count {
            switch state {
            case .line(let kind):
                guard let lineFeed = try findLineFeed(input, from: index, kind) else {
                    partialLine.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[index...]))
                    return input.count
                }
                let line = UnsafeRawBufferPointer(rebasing: input[index..<lineFeed])
                index = lineFeed + 1
                if try completeLine(line, kind, emit) { return index }
            case .body(let remaining, let chunked):
                let count = min(remaining, input.count - index)
                try emit(.body(UnsafeRawBufferPointer(rebasing: input[index..<(index + count)])))
                index += count
                if count < remaining {
                    state = .body(remaining: remaining - count, chunked: chunked)
                } else if chunked {
                    state = .chunkDataEnd(sawCR: false)
                } else {
                    try finishRequest(emit)
                    return index
                }
            case .chunkDataEnd(let sawCR):
                let byte = input[index]
                index += 1
                if byte == HTTPGrammar.lf {
                    enter(.chunkSize)
                } else if byte == HTTPGrammar.cr && !sawCR {
                    state = .chunkDataEnd(sawCR: true)
                } else {
                    throw HTTPParseError.malformedChunk("chunk data is not followed by CRLF")
                }
            case .failed(let error):
                throw error
            }
        }
        return index
    }

    private mutating func enter(_ kind: LineKind) {
        state = .line(kind)
        sectionBytes = 0
    }

    /// The index of the LF ending the current line, or nil when the input ends first. Either way the
    /// bytes are charged to the section, and crossing its limit fails right away.
    private mutating func findLineFeed(_ input: UnsafeRawBufferPointer, from start: Int,
                                       _ kind: LineKind) throws -> Int? {
        let isChunkSize = kind == .chunkSize
        let allowance = (isChunkSize ? Self.maxChunkSizeLineBytes : limits.maxHeaderBytes) - sectionBytes
        let available = input.count - start
        var index = start
        let searchEnd = start + min(available, allowance)
        while index < searchEnd {
            if input[index] == HTTPGrammar.lf {
                sectionBytes += index - start + 1
                return index
            }
            index += 1
        }
        guard available <= allowance else {
            guard isChunkSize else { throw HTTPParseError.headerTooLarge }
            throw HTTPParseError.malformedChunk("the chunk size line exceeds \(Self.maxChunkSizeLineBytes) bytes")
        }
        sectionBytes += available
        return nil
    }

    /// Handles one line given its bytes up to the LF; returns whether that finished the request.
    private mutating func completeLine(_ tail: UnsafeRawBufferPointer, _ kind: LineKind,
                                       _ emit: (HTTPParserEvent) throws -> Void) throws -> Bool {
        guard !partialLine.isEmpty else { return try handleLine(Self.withoutCR(tail), kind, emit) }
        partialLine.append(contentsOf: tail)
        // Swapped out rather than borrowed: handling the line mutates self, which holds the buffer.
        var line: [UInt8] = []
        swap(&line, &partialLine)
        defer {
            line.removeAll(keepingCapacity: true)
            swap(&line, &partialLine)
        }
        return try line.withUnsafeBytes { try handleLine(Self.withoutCR($0), kind, emit) }
    }

    /// A line may end in CRLF or a bare LF (RFC 9112 §2.2); any other CR is rejected by the line's grammar.
    private static func withoutCR(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard line.last == HTTPGrammar.cr else { return line }
        return UnsafeRawBufferPointer(rebasing: line.dropLast())
    }

    private mutating func handleLine(_ line: UnsafeRawBufferPointer, _ kind: LineKind,
                                     _ emit: (HTTPParserEvent) throws -> Void) throws -> Bool {
        switch kind {
        case .requestLine:
            // RFC 9112 §2.2: empty lines before a request line are tolerated; some clients send one after a body.
            if !line.isEmpty {
                try parseRequestLine(line)
                state = .line(.header)
            }
        case .header:
            if line.isEmpty { return try finishHead(emit) }
            guard head.headers.count < limits.maxHeaderCount else { throw HTTPParseError.headerTooLarge }
            let (name, value) = try HTTPGrammar.splitField(line)
            try interpret(name, value)
            head.headers.add(HTTPGrammar.string(name), HTTPGrammar.string(value))
        case .chunkSize:
            try parseChunkSize(line)
        case .trailer:
            if line.isEmpty {
                try finishRequest(emit)
                return true
            }
            trailerCount += 1
            guard trailerCount <= limits.maxHeaderCount else { throw HTTPParseError.headerTooLarge }
            // Trailers are discarded, but a malformed one still means the framing cannot be trusted.
            _ = try HTTPGrammar.splitField(line)
        }
        return false
    }

    private mutating func parseRequestLine(_ line: UnsafeRawBufferPointer) throws {
        guard let firstSpace = line.firstIndex(of: HTTPGrammar.space), firstSpace > 0,
              let secondSpace = line[(firstSpace + 1)...].firstIndex(of: HTTPGrammar.space),
              secondSpace > firstSpace + 1, !line[(secondSpace + 1)...].contains(HTTPGrammar.space) else {
            throw HTTPParseError.malformedRequestLine(
                "expected method, target and version separated by single spaces")
        }
        let method = UnsafeRawBufferPointer(rebasing: line[..<firstSpace])
        let target = UnsafeRawBufferPointer(rebasing: line[(firstSpace + 1)..<secondSpace])
        guard method.allSatisfy(HTTPGrammar.isTokenChar) else {
            throw HTTPParseError.malformedRequestLine("the method is not a valid token")
        }
        // A fragment is never sent (RFC 9112 §3.2), so '#' is as wrong here as a control byte.
        guard target.allSatisfy({ $0 > HTTPGrammar.space && $0 < 0x7F && $0 != UInt8(ascii: "#") }) else {
            throw HTTPParseError.malformedRequestLine(
                "the request target contains a control character, space, '#' or non-ASCII byte")
        }
        head.version = try HTTPVersion(requestLine: UnsafeRawBufferPointer(rebasing: line[(secondSpace + 1)...]))
        head.method = HTTPMethod(rawValue: HTTPGrammar.string(method))
        head.target = HTTPGrammar.string(target)
        (head.path, head.query) = try HTTPRequestTarget.pathAndQuery(target, head.target, method: head.method)
        head.headers.reserveCapacity(16)
    }

    /// Reads the fields that decide framing and connection handling straight from the bytes, once, as
    /// they arrive; errors that only depend on one field are raised here, the rest in `finishHead`.
    private mutating func interpret(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        if HTTPGrammar.equalsIgnoringCase(name, "host") {
            head.hostCount += 1
        } else if HTTPGrammar.equalsIgnoringCase(name, "content-length") {
            for element in HTTPListElements(value) {
                let length = try Self.parseContentLength(element)
                // Repeats are harmless only when they agree (RFC 9112 §6.3); otherwise they smuggle requests.
                guard head.contentLength == nil || head.contentLength == length else {
                    throw HTTPParseError.invalidContentLength
                }
                head.contentLength = length
            }
        } else if HTTPGrammar.equalsIgnoringCase(name, "transfer-encoding") {
            head.hasTransferEncoding = true
            for coding in HTTPListElements(value) where !coding.isEmpty {
                try noteTransferCoding(coding)
            }
        } else if HTTPGrammar.equalsIgnoringCase(name, "connection") {
            for option in HTTPListElements(value) {
                if HTTPGrammar.equalsIgnoringCase(option, "close") { head.close = true }
                if HTTPGrammar.equalsIgnoringCase(option, "keep-alive") { head.keepAlive = true }
            }
        } else if HTTPGrammar.equalsIgnoringCase(name, "expect") {
            if !HTTPGrammar.equalsIgnoringCase(value, "100-continue") {
                head.badExpectation = head.badExpectation ?? HTTPGrammar.quoted(value)
            } else if head.version == .http1_1 {
                // RFC 9110 §10.1.1: a 1.0 client cannot understand 100 Continue, so the expectation is ignored.
                head.expectsContinue = true
            }
        }
    }

    private static func parseContentLength(_ digits: UnsafeRawBufferPointer) throws -> Int {
        guard !digits.isEmpty else { throw HTTPParseError.invalidContentLength }
        var length = 0
        for byte in digits {
            guard HTTPGrammar.isDigit(byte) else { throw HTTPParseError.invalidContentLength }
            let (shifted, overflowA) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = shifted.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflowA && !overflowB else { throw HTTPParseError.invalidContentLength }
            length = sum
        }
        return length
    }

    /// Only chunked is implemented; since it must then be the last and only coding, any other coding
    /// anywhere in the list is unsupported (501) and a repeated chunked is malformed (RFC 9112 §6.1).
    private mutating func noteTransferCoding(_ coding: UnsafeRawBufferPointer) throws {
        let name = UnsafeRawBufferPointer(rebasing: coding.prefix(while: HTTPGrammar.isTokenChar))
        guard HTTPGrammar.equalsIgnoringCase(name, "chunked") else {
            guard !name.isEmpty else {
                throw HTTPParseError.malformedHeader(
                    "Transfer-Encoding contains \"\(HTTPGrammar.quoted(coding))\", which is not a coding")
            }
            throw HTTPParseError.unsupportedTransferCoding(HTTPGrammar.quoted(name))
        }
        guard name.count == coding.count else {
            throw HTTPParseError.malformedHeader("the chunked transfer coding takes no parameters")
        }
        guard !head.chunked else {
            throw HTTPParseError.malformedHeader("Transfer-Encoding lists chunked more than once")
        }
        head.chunked = true
    }

    /// Makes the decisions that need the whole header section, emits the head, and sets up the body.
    private mutating func finishHead(_ emit: (HTTPParserEvent) throws -> Void) throws -> Bool {
        let pending = head
        if pending.hasTransferEncoding {
            // RFC 9112 §6.1: 1.0 has no chunked coding, and with Content-Length the framing is ambiguous;
            // both are how requests get smuggled past a proxy, so neither is guessed at.
            guard pending.version == .http1_1 else {
                throw HTTPParseError.malformedHeader("Transfer-Encoding is not allowed in an HTTP/1.0 request")
            }
            guard pending.contentLength == nil else {
                throw HTTPParseError.malformedHeader("Content-Length and Transfer-Encoding must not both be sent")
            }
            guard pending.chunked else {
                throw HTTPParseError.malformedHeader("Transfer-Encoding is empty")
            }
        }
        if pending.version == .http1_1 && pending.hostCount != 1 { throw HTTPParseError.missingHost }
        if let length = pending.contentLength, length > limits.maxBodyBytes { throw HTTPParseError.bodyTooLarge }
        if let expectation = pending.badExpectation { throw HTTPParseError.unsupportedExpectation(expectation) }

        let framing: HTTPBodyFraming = pending.chunked ? .chunked : pending.contentLength.map { .length($0) } ?? .none
        let keepAlive = !pending.close && (pending.version == .http1_1 || pending.keepAlive)
        try emit(.head(HTTPRequestHead(method: pending.method, target: pending.target, path: pending.path,
                                       query: pending.query, version: pending.version, headers: pending.headers,
                                       keepAlive: keepAlive, expectsContinue: pending.expectsContinue, body: framing)))
        switch framing {
        case .none, .length(0):
            try finishRequest(emit)
            return true
        case .length(let length):
            state = .body(remaining: length, chunked: false)
        case .chunked:
            enter(.chunkSize)
        }
        return false
    }

    /// "size [; extensions]" (RFC 9112 §7.1). Size overflow is a syntax error; a size that merely pushes
    /// the total past the limit is refused before any of its data is accepted.
    private mutating func parseChunkSize(_ line: UnsafeRawBufferPointer) throws {
        var size = 0
        var index = 0
        while index < line.count, let digit = HTTPGrammar.hexValue(line[index]) {
            guard size <= Int.max >> 4 else { throw HTTPParseError.malformedChunk("the chunk size is too large") }
            size = size << 4 | digit
            index += 1
        }
        guard index > 0 else { throw HTTPParseError.malformedChunk("the chunk size is not a hexadecimal number") }
        while index < line.count && HTTPGrammar.isWhitespace(line[index]) { index += 1 }
        if index < line.count {
            guard line[index] == UInt8(ascii: ";") else {
                throw HTTPParseError.malformedChunk("unexpected text after the chunk size")
            }
            guard line[index...].allSatisfy(HTTPGrammar.isFieldValueChar) else {
                throw HTTPParseError.malformedChunk("a chunk extension contains a control character")
            }
        }
        guard size <= limits.maxBodyBytes - bodyBytes else { throw HTTPParseError.bodyTooLarge }
        bodyBytes += size
        if size == 0 {
            enter(.trailer)
        } else {
            state = .body(remaining: size, chunked: true)
        }
    }

    private mutating func finishRequest(_ emit: (HTTPParserEvent) throws -> Void) throws {
        enter(.requestLine)
        trailerCount = 0
        bodyBytes = 0
        head = PendingHead()
        try emit(.end)
    }
}
