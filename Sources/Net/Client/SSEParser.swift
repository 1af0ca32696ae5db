import Glibc

/// One event dispatched from a `text/event-stream`.
public struct ServerSentEvent: Sendable, Equatable {
    /// The `event:` field, or nil when the block set none (or an empty one): the type is then "message".
    public var event: String?
    /// The `data:` lines of the block joined with "\n".
    public var data: String
    /// The last event ID at dispatch time. Per the spec it carries over from earlier blocks until an
    /// `id:` field changes it; nil until the stream sends one.
    public var id: String?
    /// A valid `retry:` value (milliseconds) seen since the previous dispatched event, if any.
    public var retry: Int?

    public init(event: String? = nil, data: String, id: String? = nil, retry: Int? = nil) {
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry
    }
}

/// An event at the moment the parser dispatches it, borrowed from the parser's buffers: valid only
/// during the `emit` call that receives it. Lets a hot path read the data without making a String.
public struct BorrowedServerSentEvent {
    /// The `event:` field's bytes, or nil when the block set none (or an empty one).
    public let type: UnsafeRawBufferPointer?
    /// The `data:` lines of the block joined with LF.
    public let data: UnsafeRawBufferPointer
    /// As in `ServerSentEvent`.
    public let id: String?
    /// As in `ServerSentEvent`.
    public let retry: Int?

    /// An owned copy.
    public var event: ServerSentEvent {
        ServerSentEvent(event: type.map { String(decoding: $0, as: UTF8.self) }, data: String(decoding: data, as: UTF8.self),
                        id: id, retry: retry)
    }
}

/// Why an event stream had to be dropped.
public enum StreamParserError: Error, Sendable, Equatable {
    /// One SSE event (its pending line plus its data so far) grew past the limit, in bytes.
    case eventTooLarge(limit: Int)
    /// One NDJSON line grew past the limit, in bytes.
    case lineTooLarge(limit: Int)
}

/// An incremental parser for `text/event-stream` that follows the WHATWG "event stream
/// interpretation" rules: LF, CRLF and CR line ends (a CRLF split across two chunks is one line end),
/// an optional leading BOM, `:` comments, one optional space after the colon, `data` lines joined with
/// LF, dispatch on a blank line only when data is non-empty, `retry` only when all digits, and `id`
/// ignored when it contains NUL.
///
/// Works on bytes and decodes UTF-8 only per complete line, so chunks may split characters anywhere.
/// Memory is bounded by `maxEventBytes`, because a peer that never sends a blank line would otherwise
/// grow the buffer without end.
public struct SSEParser {
    /// The most bytes one event may occupy (pending line plus accumulated data).
    public let maxEventBytes: Int
    /// The stream's last event ID, as a reconnecting client would send in `Last-Event-ID`.
    public private(set) var lastEventID: String?
    /// The stream's reconnection time from the latest valid `retry` field, in milliseconds.
    public private(set) var reconnectionTime: Int?

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var eventType: [UInt8] = []
    private var retry: Int?
    private var lastWasCR = false
    private var atStreamStart = true

    public init(maxEventBytes: Int = 16 << 20) {
        self.maxEventBytes = maxEventBytes
    }

    /// Parses one chunk, calling `emit` for every event it completes. After a throw the stream is
    /// unusable: drop it.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (ServerSentEvent) -> Void) throws(StreamParserError) {
        try feedBorrowing(bytes) { emit($0.event) }
    }

    /// `feed` for callers that read each event in place: no String is made for its data or type.
    public mutating func feedBorrowing(_ bytes: UnsafeRawBufferPointer,
                                       _ emit: (BorrowedServerSentEvent) -> Void) throws(StreamParserError) {
        var start = 0
        var i = 0
        let count = bytes.count
        if lastWasCR && count > 0 {
            lastWasCR = false
            if bytes[0] == 0x0A {
                start = 1
                i = 1
            }
        }
        while i < count {
            i = SSEParser.lineEnd(in: bytes, from: i)
            if i < count {
                let byte = bytes[i]
                let piece = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
                if line.isEmpty {
                    try processLine(piece, emit)
                } else {
                    line.append(contentsOf: piece)
                    let whole = line
                    line.removeAll(keepingCapacity: true)
                    var failure: StreamParserError?
                    whole.withUnsafeBytes { buffer in
                        do throws(StreamParserError) { try processLine(buffer, emit) } catch { failure = error }
                    }
                    if let failure { throw failure }
                }
                i += 1
                if byte == 0x0D {
                    if i == count {
                        lastWasCR = true
                    } else if bytes[i] == 0x0A {
                        i += 1
                    }
                }
                start = i
            }
        }
        if start < count {
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<count]))
            if line.count + data.count > maxEventBytes { throw .eventTooLarge(limit: maxEventBytes) }
        }
    }

    /// The index of the first CR or LF at or after `from`, or `bytes.count`. Two `memchr`s instead of
    /// a loop over every byte: a real chunk's line is a few hundred bytes, and CR is rare, so the
    /// second search only covers the line the first one found.
    private static func lineEnd(in bytes: UnsafeRawBufferPointer, from: Int) -> Int {
        guard let base = bytes.baseAddress, from < bytes.count else { return bytes.count }
        let start = base + from
        var length = bytes.count - from
        if let lineFeed = memchr(start, 0x0A, length) { length = UnsafeRawPointer(lineFeed) - start }
        if let carriageReturn = memchr(start, 0x0D, length) { return from + (UnsafeRawPointer(carriageReturn) - start) }
        return from + length
    }

    /// Ends the stream. Per the spec an event not yet closed by a blank line is discarded, not
    /// dispatched, so `emit` is never called; it is taken so both stream parsers end the same way.
    public mutating func finish(_ emit: (ServerSentEvent) -> Void) {
        line.removeAll()
        data.removeAll()
        hasData = false
        eventType.removeAll()
        retry = nil
    }

    private mutating func processLine(_ raw: UnsafeRawBufferPointer, _ emit: (BorrowedServerSentEvent) -> Void) throws(StreamParserError) {
        var lineBytes = raw
        if atStreamStart {
            atStreamStart = false
            if lineBytes.count >= 3 && lineBytes[0] == 0xEF && lineBytes[1] == 0xBB && lineBytes[2] == 0xBF {
                lineBytes = UnsafeRawBufferPointer(rebasing: lineBytes[3...])
            }
        }
        if lineBytes.isEmpty {
            dispatch(emit)
            return
        }
        if lineBytes[0] == UInt8(ascii: ":") { return }
        let colon = lineBytes.firstIndex(of: UInt8(ascii: ":"))
        let name = UnsafeRawBufferPointer(rebasing: lineBytes[..<(colon ?? lineBytes.count)])
        var value = UnsafeRawBufferPointer(start: nil, count: 0)
        if let colon {
            var valueStart = colon + 1
            if valueStart < lineBytes.count && lineBytes[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
            value = UnsafeRawBufferPointer(rebasing: lineBytes[valueStart...])
        }
        switch Field(name) {
        case .data:
            if data.count + value.count + 1 > maxEventBytes { throw .eventTooLarge(limit: maxEventBytes) }
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        case .event:
            eventType.removeAll(keepingCapacity: true)
            eventType.append(contentsOf: value)
        case .id:
            if !value.contains(0) { lastEventID = String(decoding: value, as: UTF8.self) }
        case .retry:
            if !value.isEmpty, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                // All digits yet too long for Int: saturate rather than ignore a valid field.
                let parsed = Int(String(decoding: value, as: UTF8.self)) ?? Int.max
                retry = parsed
                reconnectionTime = parsed
            }
        case .unknown:
            break
        }
    }

    private mutating func dispatch(_ emit: (BorrowedServerSentEvent) -> Void) {
        defer {
            data.removeAll(keepingCapacity: data.capacity <= 64 * 1024)
            hasData = false
            eventType.removeAll(keepingCapacity: true)
        }
        // An empty data buffer means no event, even if `event:` was set (spec step 2).
        guard hasData else { return }
        let id = lastEventID
        let retry = self.retry
        self.retry = nil
        data.withUnsafeBytes { data in
            eventType.withUnsafeBytes { type in
                emit(BorrowedServerSentEvent(type: type.isEmpty ? nil : type, data: data, id: id, retry: retry))
            }
        }
    }

    private enum Field {
        case data, event, id, retry, unknown

        init(_ name: UnsafeRawBufferPointer) {
            switch name.count {
            case 4 where name.elementsEqual("data".utf8): self = .data
            case 5 where name.elementsEqual("event".utf8): self = .event
            case 2 where name.elementsEqual("id".utf8): self = .id
            case 5 where name.elementsEqual("retry".utf8): self = .retry
            default: self = .unknown
            }
        }
    }
}
