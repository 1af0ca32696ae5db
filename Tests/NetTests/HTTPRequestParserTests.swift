import Testing
import TestSupport
@testable import Net

/// A parse reduced to what must not depend on how the input was split: adjacent body pieces are merged.
private struct Outcome: Equatable {
    struct Head: Equatable {
        var method: String, target: String, path: String, query: String?, version: HTTPVersion
        var headers: [String], keepAlive: Bool, expectsContinue: Bool, body: HTTPBodyFraming
    }

    enum Event: Equatable {
        case head(Head), body([UInt8]), end
    }

    var events: [Event] = []
    var error: HTTPParseError?
    var idle = false

    var heads: [Head] {
        events.compactMap { if case .head(let head) = $0 { head } else { nil } }
    }

    var bodies: [String] {
        events.compactMap { if case .body(let bytes) = $0 { String(decoding: bytes, as: UTF8.self) } else { nil } }
    }

    mutating func record(_ event: HTTPParserEvent) {
        switch event {
        case .head(let h):
            events.append(.head(Head(method: h.method.rawValue, target: h.target, path: h.path, query: h.query,
                                     version: h.version, headers: h.headers.map { "\($0.name): \($0.value)" },
                                     keepAlive: h.keepAlive, expectsContinue: h.expectsContinue, body: h.body)))
        case .body(let piece):
            if case .body(let earlier) = events.last {
                events[events.count - 1] = .body(earlier + piece)
            } else {
                events.append(.body(Array(piece)))
            }
        case .end:
            events.append(.end)
        }
    }
}

/// Feeds `bytes` in pieces of the given sizes, re-presenting what the parser left (as a server does after
/// each `.end`) before the next piece.
private func run(_ bytes: [UInt8], pieces: [Int], limits: HTTPParserLimits) -> Outcome {
    var parser = HTTPRequestParser(limits: limits)
    var outcome = Outcome()
    var pending = ArraySlice<UInt8>()
    var offset = 0
    do {
        for size in pieces {
            pending += bytes[offset..<(offset + size)]
            offset += size
            while !pending.isEmpty {
                let used = try pending.withUnsafeBytes { try parser.parse($0) { outcome.record($0) } }
                try #require(used > 0, "parse made no progress")
                pending.removeFirst(used)
            }
        }
    } catch let error as HTTPParseError {
        outcome.error = error
    } catch {
        Issue.record(error)
    }
    outcome.idle = parser.isIdle
    return outcome
}

/// Parses `text` whole, byte by byte and in seeded random splits, requires all of them to agree, and
/// returns the result.
private func parse(_ text: String, limits: HTTPParserLimits = .init(),
                   sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
    let bytes = Array(text.utf8)
    let whole = run(bytes, pieces: [bytes.count], limits: limits)
    let byteByByte = run(bytes, pieces: Array(repeating: 1, count: bytes.count), limits: limits)
    #expect(byteByByte == whole, "byte by byte", sourceLocation: sourceLocation)
    for seed in UInt64(0)..<48 {
        var rng = SplitMix64(state: seed)
        let largest = [2, 3, 5, 8, 17, 64, bytes.count][Int(seed % 7)]
        var pieces: [Int] = []
        var left = bytes.count
        while left > 0 {
            pieces.append(Int.random(in: 1...max(1, min(left, largest)), using: &rng))
            left -= pieces[pieces.count - 1]
        }
        #expect(run(bytes, pieces: pieces, limits: limits) == whole, "seed \(seed)", sourceLocation: sourceLocation)
    }
    return whole
}

private let small = HTTPParserLimits(maxHeaderBytes: 200, maxHeaderCount: 4, maxBodyBytes: 10)
private let get = "GET / HTTP/1.1\r\nHost: a\r\n"
private let post = "POST / HTTP/1.1\r\nHost: a\r\n"
private let chunked = post + "Transfer-Encoding: chunked\r\n\r\n"

/// One direct call, for tests about what a single `parse` call consumes or leaves behind.
private func feed(_ parser: inout HTTPRequestParser, _ text: String,
                  _ emit: (HTTPParserEvent) -> Void = { _ in }) throws -> Int {
    try Array(text.utf8).withUnsafeBytes { try parser.parse($0, emit) }
}

struct HTTPRequestParserTests {
    /// An input the parser must refuse, with the name of the error case and its status.
    struct Rejected: Sendable, CustomTestStringConvertible {
        var request: String, error: String, status: Int, limits: HTTPParserLimits

        init(_ request: String, _ error: String, _ status: Int, limits: HTTPParserLimits = .init()) {
            (self.request, self.error, self.status, self.limits) = (request, error, status, limits)
        }

        var testDescription: String { "\(error): \(String(request.debugDescription.prefix(90)))" }
    }

    private func expectRejected(_ rejected: Rejected, sourceLocation: SourceLocation = #_sourceLocation) {
        let outcome = parse(rejected.request, limits: rejected.limits, sourceLocation: sourceLocation)
        guard let error = outcome.error else {
            Issue.record("accepted: \(rejected.testDescription)", sourceLocation: sourceLocation)
            return
        }
        #expect(String(describing: error).hasPrefix(rejected.error), sourceLocation: sourceLocation)
        #expect(error.status == rejected.status, sourceLocation: sourceLocation)
    }

    @Test func parsesGetWithoutBody() {
        let outcome = parse("GET /users/42?x=1&y=%20 HTTP/1.1\r\nHost: api.local\r\nAccept:  */* \t\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.events == [.head(.init(method: "GET", target: "/users/42?x=1&y=%20", path: "/users/42",
                                               query: "x=1&y=%20", version: .http1_1,
                                               headers: ["Host: api.local", "Accept: */*"], keepAlive: true,
                                               expectsContinue: false, body: .none)), .end])
        #expect(outcome.idle)
    }

    @Test func parsesPostWithContentLength() {
        let outcome = parse("POST /items HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world")
        #expect(outcome.heads.first?.body == .length(11))
        #expect(outcome.bodies == ["hello world"])
        #expect(outcome.events.last == .end && outcome.idle)
        #expect(parse(post + "Content-Length: 0\r\n\r\n").events.count == 2)
    }

    @Test func acceptsRepeatedIdenticalContentLengths() {
        #expect(parse(post + "Content-Length: 3, 3\r\n\r\nabc").bodies == ["abc"])
        #expect(parse(post + "Content-Length: 3\r\ncontent-length: 003\r\n\r\nabc").bodies == ["abc"])
    }

    @Test func parsesChunkedBodyWithExtensionsAndTrailers() {
        let outcome = parse(chunked
            + "5;name=\"v\" ; x\r\nhello\r\nA\r\n, chunked!\r\n0 ;last\r\nX-Checksum: 42\r\nX-Other: y\r\n\r\n")
        #expect(outcome.error == nil)
        #expect(outcome.heads.first?.body == .chunked)
        #expect(outcome.bodies == ["hello, chunked!"])
        #expect(outcome.events.last == .end && outcome.idle)
    }

    @Test func readsTransferCodingsCaseInsensitivelyAcrossLines() {
        let outcome = parse(post + "Transfer-Encoding:\r\nTransfer-Encoding: , CHUNKED\r\n\r\n1\r\nz\r\n0\r\n\r\n")
        #expect(outcome.bodies == ["z"])
    }

    @Test func emitsHeadBeforeTheBodyArrives() {
        let outcome = parse(post + "Expect: 100-Continue\r\nContent-Length: 5\r\n\r\n")
        #expect(outcome.heads.first?.expectsContinue == true)
        #expect(outcome.events.count == 1 && outcome.error == nil && !outcome.idle)
    }

    @Test func ignoresExpectContinueFromHTTP10Clients() {
        #expect(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").heads.first?.expectsContinue == false)
    }

    @Test func handlesPipelinedRequestsOneAtATime() throws {
        let requests = ["POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi",
                        "GET /b HTTP/1.1\r\nHost: h\r\n\r\n",
                        "DELETE /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]
        var parser = HTTPRequestParser()
        var outcome = Outcome()
        var input = requests.joined()
        for request in requests {
            let used = try feed(&parser, input) { outcome.record($0) }
            #expect(used == request.utf8.count)
            #expect(outcome.events.last == .end && parser.isIdle)
            input = String(input.utf8.dropFirst(used))!
        }
        #expect(outcome.heads.map(\.path) == ["/a", "/b", "/c"])
        #expect(parse(requests.joined()).events == outcome.events)
    }

    @Test func readsLaterMinorVersionsAsHTTP11() {
        #expect(parse("GET / HTTP/1.9\r\nHost: a\r\n\r\n").heads.first?.version == .http1_1)
    }

    @Test(arguments: [
        ("HTTP/1.1", "", true), ("HTTP/1.1", "Connection: close\r\n", false),
        ("HTTP/1.1", "Connection: keep-alive, Upgrade\r\n", true),
        ("HTTP/1.1", "Connection: x\r\nConnection: CLOSE\r\n", false), ("HTTP/1.0", "", false),
        ("HTTP/1.0", "Connection: Keep-Alive\r\n", true), ("HTTP/1.0", "Connection: keep-alive, close\r\n", false),
    ])
    func decidesKeepAliveByVersionAndConnection(version: String, header: String, keepAlive: Bool) {
        #expect(parse("GET / \(version)\r\nHost: a\r\n\(header)\r\n").heads.first?.keepAlive == keepAlive)
    }

    @Test(arguments: [
        ("GET http://example.com:8080/a/b?q=1", "/a/b", "q=1"), ("GET https://example.com", "/", nil),
        ("GET http://example.com?x", "/", "x"), ("OPTIONS *", "*", nil),
        ("CONNECT example.com:443", "example.com:443", nil), ("GET /?", "/", ""), ("GET /a?b?c", "/a", "b?c"),
        ("PURGE /cache", "/cache", nil),
    ] as [(String, String, String?)])
    func splitsEveryTargetFormIntoPathAndQuery(methodAndTarget: String, path: String, query: String?) {
        let outcome = parse(methodAndTarget + " HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(outcome.heads.first?.path == path)
        #expect(outcome.heads.first?.query == query)
    }

    @Test func parsesAPipelinedMixTheSameHoweverItIsSplit() {
        let mix = [get + "\r\n", post + "Content-Length: 3\r\n\r\nabc", chunked + "2;x\r\nde\r\n0\r\nT: 1\r\n\r\n",
                   "\r\nOPTIONS * HTTP/1.0\r\n\r\n", post + "Expect: 100-continue\r\nContent-Length: 1\r\n\r\nf"]
        let outcome = parse(mix.joined())
        #expect(outcome.error == nil && outcome.idle)
        #expect(outcome.heads.map(\.method) == ["GET", "POST", "POST", "OPTIONS", "POST"])
        #expect(outcome.bodies == ["abc", "de", "f"])
    }

    @Test func skipsLeadingEmptyLinesAndAcceptsBareLineFeeds() {
        let outcome = parse("\r\n\n\r\nPUT /x HTTP/1.1\nHost: a\nContent-Length: 1\n\nyGET / HTTP/1.0\r\n\n")
        #expect(outcome.heads.map(\.method) == ["PUT", "GET"])
        #expect(outcome.bodies == ["y"])
        #expect(outcome.events.filter { $0 == .end }.count == 2)
    }

    @Test func reportsIdleOnlyWithNothingBuffered() throws {
        var parser = HTTPRequestParser()
        #expect(parser.isIdle)
        for (text, idle) in [("\r\n", true), ("GET", false), (" / HTTP/1.1\r\nHost: a\r\n", false), ("\r\n", true)] {
            #expect(try feed(&parser, text) == text.utf8.count)
            #expect(parser.isIdle == idle, "after \(text.debugDescription)")
        }
    }

    @Test func acceptsHeaderSectionExactlyAtTheByteLimit() {
        let request = get + "X: \(String(repeating: "v", count: 200 - 32))\r\n\r\n"
        #expect(request.utf8.count == 200)
        #expect(parse(request, limits: small).error == nil)
        #expect(parse(request.replacing("X:", with: "XY:"), limits: small).error == .headerTooLarge)
    }

    @Test func failsAsSoonAsAnUnterminatedHeaderCrossesTheLimit() throws {
        var parser = HTTPRequestParser(limits: small)
        #expect(try feed(&parser, "GET / HTTP/1.1\r\nHost: \(String(repeating: "h", count: 200 - 22))") == 200)
        #expect(throws: HTTPParseError.headerTooLarge) { try feed(&parser, "h") }
        #expect(throws: HTTPParseError.headerTooLarge) { try feed(&parser, "\r\n\r\n") }
    }

    @Test func enforcesTheBodyLimitBeforeAcceptingTheBody() {
        #expect(parse(post + "Content-Length: 10\r\n\r\n0123456789", limits: small).bodies == ["0123456789"])
        #expect(parse(post + "Content-Length: 11\r\n\r\n0123456789X", limits: small).events.isEmpty)
        #expect(parse(chunked + "6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n", limits: small).bodies == ["0123456789"])
        let overflowing = parse(chunked + "6\r\n012345\r\n5\r\n6789X\r\n0\r\n\r\n", limits: small)
        #expect(overflowing.bodies == ["012345"] && overflowing.error == .bodyTooLarge)
    }

    @Test func deliversChunkDataUpToAFramingError() {
        let outcome = parse(chunked + "3\r\nabcX\r\n")
        #expect(outcome.bodies == ["abc"])
        #expect(outcome.error == .malformedChunk("chunk data is not followed by CRLF"))
    }

    @Test func staysDeadAfterAnError() throws {
        struct Refused: Error {}
        var refusing = HTTPRequestParser()
        let request = Array((get + "\r\n").utf8)
        #expect(throws: Refused.self) {
            try request.withUnsafeBytes { try refusing.parse($0) { _ in throw Refused() } }
        }
        #expect(throws: Refused.self) { try feed(&refusing, get + "\r\n") }
        var failed = HTTPRequestParser()
        #expect(throws: HTTPParseError.unsupportedVersion) { try feed(&failed, "GET / HTTP/2.0\r\n\r\n") }
        #expect(throws: HTTPParseError.unsupportedVersion) { try feed(&failed, get + "\r\n") }
        #expect(!failed.isIdle)
    }

    @Test(arguments: [
        "GET  / HTTP/1.1", "GET /  HTTP/1.1", " GET / HTTP/1.1", "GET / HTTP/1.1 ", "GET\t/ HTTP/1.1", "GET /",
        "G@T / HTTP/1.1", "GET /a\u{7}b HTTP/1.1", "GET /a#frag HTTP/1.1", "GET /é HTTP/1.1", "GET / http/1.1",
        "GET / HTTP/1.10", "GET / HTTP/1", "GET / HTTP/1.x", "GET * HTTP/1.1", "GET example.com:80 HTTP/1.1",
        "GET http:///path HTTP/1.1", "GET 1http://a/ HTTP/1.1", "CONNECT /path HTTP/1.1", "CONNECT a:b HTTP/1.1",
        "GET / HTTP/1.1\rX: y", "\r\r\nGET / HTTP/1.1",
    ])
    func rejectsMalformedRequestLines(_ line: String) {
        expectRejected(Rejected(line + "\r\nHost: a\r\n\r\n", "malformedRequestLine", 400))
    }

    @Test(arguments: ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/2.1"])
    func refusesOtherWellFormedVersionsWith505(_ version: String) {
        expectRejected(Rejected("GET / \(version)\r\nHost: a\r\n\r\n", "unsupportedVersion", 505))
    }

    @Test(arguments: [
        Rejected(get + "Bad Name: x\r\n\r\n", "malformedHeader", 400),
        Rejected("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "malformedHeader(\"whitespace between field name \\\"Host", 400),
        Rejected(get + "X-A: 1\r\n  folded\r\n\r\n", "malformedHeader(\"a line starts with whitespace", 400),
        Rejected("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", "malformedHeader(\"a line starts with whitespace", 400),
        Rejected(get + "NoColon\r\n\r\n", "malformedHeader", 400),
        Rejected(get + ": empty\r\n\r\n", "malformedHeader", 400),
        Rejected(get + "X: a\u{0}b\r\n\r\n", "malformedHeader", 400),
        Rejected(get + "X: a\u{7F}\r\n\r\n", "malformedHeader", 400),
        Rejected(get + "X: a\rb\r\n\r\n", "malformedHeader", 400),
        Rejected(get + "X: a\r\r\n\r\n", "malformedHeader", 400),
        Rejected(get + "\r\r\n", "malformedHeader", 400),
        Rejected("GET / HTTP/1.1\r\n\r\n", "missingHost", 400),
        Rejected(get + "host: b\r\n\r\n", "missingHost", 400),
        Rejected("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", "unsupportedExpectation", 417),
        Rejected("PUT / HTTP/1.0\r\nExpect: something\r\n\r\n", "unsupportedExpectation", 417),
        Rejected(get + "X: \(String(repeating: "v", count: 200))\r\n\r\n", "headerTooLarge", 431, limits: small),
        Rejected(String(repeating: "\r\n", count: 101) + get + "\r\n", "headerTooLarge", 431, limits: small),
        Rejected(get + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", "headerTooLarge", 431, limits: small),
    ])
    func rejectsMalformedHeaderSections(_ rejected: Rejected) {
        expectRejected(rejected)
    }

    @Test(arguments: [
        Rejected(post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "malformedHeader", 400),
        Rejected(post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", "malformedHeader", 400),
        Rejected("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "malformedHeader", 400),
        Rejected(post + "Transfer-Encoding: chunked, chunked\r\n\r\n", "malformedHeader", 400),
        Rejected(post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "malformedHeader", 400),
        Rejected(post + "Transfer-Encoding: chunked;x=1\r\n\r\n", "malformedHeader", 400),
        Rejected(post + "Transfer-Encoding: @\r\n\r\n", "malformedHeader", 400),
        Rejected(post + "Transfer-Encoding: \r\n\r\n", "malformedHeader", 400),
        Rejected(post + "Transfer-Encoding: gzip\r\n\r\n", "unsupportedTransferCoding(\"gzip\")", 501),
        Rejected(post + "Transfer-Encoding: gzip, chunked\r\n\r\n", "unsupportedTransferCoding(\"gzip\")", 501),
        Rejected(post + "Transfer-Encoding: chunked, identity\r\n\r\n", "unsupportedTransferCoding(\"identity\")", 501),
        Rejected(post + "Transfer-Encoding: Deflate\r\n\r\n", "unsupportedTransferCoding(\"Deflate\")", 501),
        Rejected(post + "Content-Length: 11\r\n\r\n", "bodyTooLarge", 413, limits: small),
        Rejected(post + "Content-Length: 2000000\r\n\r\n", "bodyTooLarge", 413),
    ])
    func rejectsAmbiguousOrUnsupportedFraming(_ rejected: Rejected) {
        expectRejected(rejected)
    }

    @Test(arguments: ["5, 6", "5\r\nContent-Length: 6", "5,", "", "+5", "-1", "0x5", "5 5", "99999999999999999999"])
    func rejectsContentLengthsThatAreNotOneNumber(_ value: String) {
        expectRejected(Rejected(post + "Content-Length: \(value)\r\n\r\n", "invalidContentLength", 400))
    }

    @Test(arguments: [
        "zz\r\n", "\r\n", " 5\r\nhello\r\n0\r\n\r\n", "5 x\r\nhello\r\n0\r\n\r\n", "5;a\u{1}\r\nhello\r\n0\r\n\r\n",
        "5\rX\r\n", "8000000000000000\r\n", "5\r\nhelloX\r\n0\r\n\r\n", "5\r\nhello\r\r\n0\r\n\r\n",
        "5;\(String(repeating: "e", count: 4096))\r\nhello\r\n0\r\n\r\n",
    ])
    func rejectsMalformedChunks(_ body: String) {
        expectRejected(Rejected(chunked + body + "\r\n", "malformedChunk", 400))
    }

    @Test(arguments: [
        Rejected(chunked + "5\r\nhello\r\n0\r\nBad Trailer: x\r\n\r\n", "malformedHeader", 400),
        Rejected(chunked + "0\r\n folded: x\r\n\r\n", "malformedHeader", 400),
        Rejected(chunked + "0\r\nT: \(String(repeating: "t", count: 300))\r\n\r\n", "headerTooLarge", 431,
                 limits: small),
        Rejected(chunked + "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", "headerTooLarge", 431, limits: small),
        Rejected(chunked + "fffffff\r\n", "bodyTooLarge", 413),
    ])
    func rejectsBadTrailersAndOversizedChunks(_ rejected: Rejected) {
        expectRejected(rejected)
    }

    @Test func mapsEveryErrorToItsStatus() {
        let statuses: [(HTTPParseError, Int)] = [
            (.malformedRequestLine("x"), 400), (.malformedHeader("x"), 400), (.headerTooLarge, 431),
            (.bodyTooLarge, 413), (.unsupportedTransferCoding("gzip"), 501), (.invalidContentLength, 400),
            (.malformedChunk("x"), 400), (.unsupportedVersion, 505), (.unsupportedExpectation("x"), 417),
            (.missingHost, 400),
        ]
        for (error, status) in statuses {
            #expect(error.status == status, "\(error)")
            #expect(error.message.first?.isUppercase == true && error.message.hasSuffix("."), "\(error)")
        }
        #expect(HTTPParseError.unsupportedTransferCoding("gzip").message
            == "Transfer coding \"gzip\" is not supported; only chunked is.")
        // Echoed client text is masked, so the error page cannot carry raw control bytes back.
        #expect(parse(get + "Bad\u{1}: x\r\n\r\n").error?.message
            == "Malformed header field: the field name in \"Bad?: x\" is not a valid token.")
    }

    @Test func matchesTheTokenCharacterSetOfRFC9110() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(HTTPGrammar.isTokenChar(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }

    @Test func looksUpHeadersCaseInsensitivelyInOrder() {
        var headers = HTTPHeaders([("Host", "a"), ("Connection", "keep-alive, Upgrade"), ("Accept", "x"),
                                   ("connection", "TE"), ("Accept", "y")])
        #expect(headers["HOST"] == "a" && headers["missing"] == nil && headers.count == 5)
        #expect(headers.values("accept") == ["x", "y"])
        #expect(headers.contains("ACCEPT") && !headers.contains("Accep"))
        #expect(headers.containsToken("upgrade", in: "CONNECTION") && headers.containsToken("te", in: "Connection"))
        #expect(!headers.containsToken("keep", in: "Connection") && !headers.containsToken("a", in: "Accept-x"))
        headers.replaceOrAdd("ACCEPT", "z")
        #expect(headers.map { "\($0.name)=\($0.value)" }
            == ["Host=a", "Connection=keep-alive, Upgrade", "Accept=z", "connection=TE"])
        headers.remove("connection")
        headers.replaceOrAdd("Date", "now")
        headers.add("Via", "1.1 p")
        #expect(headers.map(\.name) == ["Host", "Accept", "Date", "Via"])
    }
}
