// RFC 7692 permessage-deflate: negotiation (§7.1) and raw DEFLATE per message through zlib (§7.2).
import CZlib

/// The parameters of a negotiated permessage-deflate extension; "server" and "client" name the sending side.
public struct PerMessageDeflateOptions: Sendable, Equatable {
    public var serverNoContextTakeover = false
    public var clientNoContextTakeover = false
    public var serverMaxWindowBits = 15
    public var clientMaxWindowBits = 15

    public init(serverNoContextTakeover: Bool = false, clientNoContextTakeover: Bool = false,
                serverMaxWindowBits: Int = 15, clientMaxWindowBits: Int = 15) {
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientMaxWindowBits = clientMaxWindowBits
    }

    /// Server side: the first acceptable permessage-deflate offer among the Sec-WebSocket-Extensions header
    /// values, the options in force, and the response header value; nil when none is acceptable.
    /// A declined offer (unknown or duplicate parameter, bad value, server_max_window_bits=8, which zlib cannot
    /// deflate with) makes us try the next one, as the client listed them in order of preference.
    public static func negotiate(offers: [String]) -> (options: PerMessageDeflateOptions, response: String)? {
        for header in offers {
            for element in split(header, on: ",") {
                guard let offer = Extension(parsing: element), offer.name == "permessage-deflate" else { continue }
                if let accepted = accept(offer.parameters) { return accepted }
            }
        }
        return nil
    }

    /// Client side: the offer to send. client_max_window_bits is always included so a server may shrink
    /// our window if it wants to save memory.
    public static func clientOffer(clientNoContextTakeover: Bool = false, serverNoContextTakeover: Bool = false) -> String {
        var offer = "permessage-deflate; client_max_window_bits"
        if clientNoContextTakeover { offer += "; client_no_context_takeover" }
        if serverNoContextTakeover { offer += "; server_no_context_takeover" }
        return offer
    }

    /// Client side: validates the server's answer to `clientOffer` and returns the options in force.
    /// Throws protocolError for anything we did not allow, for invalid values and for client_max_window_bits=8
    /// (zlib cannot deflate with that window). Any no-context-takeover we offered ourselves applies even if the
    /// server leaves it out of the response, so the caller ORs in its own choice.
    public static func acceptServerResponse(_ header: String) throws -> PerMessageDeflateOptions {
        let elements = split(header, on: ",")
        guard elements.count == 1, let response = Extension(parsing: elements[0]),
              response.name == "permessage-deflate" else {
            throw WebSocketError.protocolError("unexpected Sec-WebSocket-Extensions response")
        }
        var options = PerMessageDeflateOptions()
        var seen: Set<String> = []
        for (name, value) in response.parameters {
            guard seen.insert(name).inserted else { throw WebSocketError.protocolError("duplicate \(name)") }
            switch name {
            case "server_no_context_takeover" where value == nil: options.serverNoContextTakeover = true
            case "client_no_context_takeover" where value == nil: options.clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let bits = windowBits(value) else { throw WebSocketError.protocolError("bad \(name)") }
                options.serverMaxWindowBits = bits
            case "client_max_window_bits":
                guard let bits = windowBits(value), bits > 8 else { throw WebSocketError.protocolError("bad \(name)") }
                options.clientMaxWindowBits = bits
            default: throw WebSocketError.protocolError("unexpected permessage-deflate parameter")
            }
        }
        return options
    }

    /// The server's answer to one offer, or nil to decline it.
    private static func accept(_ parameters: [(String, String?)]) -> (options: PerMessageDeflateOptions, response: String)? {
        var options = PerMessageDeflateOptions()
        var seen: Set<String> = []
        var response = "permessage-deflate"
        for (name, value) in parameters {
            guard seen.insert(name).inserted else { return nil }
            switch name {
            case "server_no_context_takeover" where value == nil: options.serverNoContextTakeover = true
            case "client_no_context_takeover" where value == nil: options.clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let bits = windowBits(value), bits > 8 else { return nil }
                options.serverMaxWindowBits = bits
            case "client_max_window_bits":
                // Without a value the client merely allows us to pick; we keep its default of 15.
                if value != nil {
                    guard let bits = windowBits(value) else { return nil }
                    options.clientMaxWindowBits = bits
                }
            default: return nil
            }
        }
        if options.serverNoContextTakeover { response += "; server_no_context_takeover" }
        if options.clientNoContextTakeover { response += "; client_no_context_takeover" }
        // The server must echo server_max_window_bits when offered (§7.1.2.1); echoing the client's own value
        // makes it binding (§7.1.2.2), so our inflater may use the smaller window.
        if seen.contains("server_max_window_bits") { response += "; server_max_window_bits=\(options.serverMaxWindowBits)" }
        if options.clientMaxWindowBits != 15 { response += "; client_max_window_bits=\(options.clientMaxWindowBits)" }
        return (options, response)
    }

    /// 8...15 written in decimal without leading zeros (§7.1.2); nil for anything else, including no value.
    private static func windowBits(_ value: String?) -> Int? {
        guard let value, let first = value.utf8.first, first != UInt8(ascii: "0"),
              value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let bits = Int(value), (8...15).contains(bits) else { return nil }
        return bits
    }

    /// Splits on `separator` where it is not inside a quoted string.
    private static func split(_ text: Substring, on separator: Character) -> [Substring] {
        var parts: [Substring] = []
        var start = text.startIndex
        var quoted = false
        var escaped = false
        for index in text.indices {
            let character = text[index]
            if escaped { escaped = false; continue }
            if quoted && character == "\\" { escaped = true } else if character == "\"" { quoted.toggle() }
            if !quoted && character == separator {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
        }
        parts.append(text[start...])
        return parts
    }

    private static func split(_ text: String, on separator: Character) -> [Substring] { split(text[...], on: separator) }

    /// One element of an extension list: `name; param; param=value; param="value"`.
    private struct Extension {
        let name: String
        let parameters: [(String, String?)]

        /// nil when the element is malformed (empty name or parameter, broken quoting).
        init?(parsing element: Substring) {
            let pieces = PerMessageDeflateOptions.split(element, on: ";")
            let name = Self.trim(pieces[0]).lowercased()
            guard !name.isEmpty else { return nil }
            var parameters: [(String, String?)] = []
            for piece in pieces.dropFirst() {
                let equals = piece.firstIndex(of: "=")
                let key = Self.trim(piece[..<(equals ?? piece.endIndex)]).lowercased()
                guard !key.isEmpty else { return nil }
                guard let equals else { parameters.append((key, nil)); continue }
                guard let value = Self.unquote(Self.trim(piece[piece.index(after: equals)...])) else { return nil }
                parameters.append((key, value))
            }
            self.name = name
            self.parameters = parameters
        }

        private static func trim(_ text: Substring) -> Substring {
            let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
            var start = text.startIndex
            var end = text.endIndex
            while start < end && isSpace(text[start]) { start = text.index(after: start) }
            while end > start && isSpace(text[text.index(before: end)]) { end = text.index(before: end) }
            return text[start..<end]
        }

        /// The value of a token or quoted-string (RFC 7230 §3.2.6); nil when empty or badly quoted.
        private static func unquote(_ text: Substring) -> String? {
            guard text.first == "\"" else { return text.isEmpty || text.contains("\"") ? nil : String(text) }
            guard text.count >= 2, text.last == "\"" else { return nil }
            var value = ""
            var escaped = false
            for character in text.dropFirst().dropLast() {
                if escaped { value.append(character); escaped = false }
                else if character == "\\" { escaped = true }
                else if character == "\"" { return nil }
                else { value.append(character) }
            }
            return escaped || value.isEmpty ? nil : value
        }
    }
}

/// One per connection. zlib streams are allocated lazily on first use and dropped after each message when
/// no-context-takeover applies to that direction, so an idle connection then holds no zlib state.
/// Not thread-safe: the connection that owns it uses it from one thread at a time.
public final class PerMessageDeflate {
    private let sendWindowBits: Int32
    private let receiveWindowBits: Int32
    private let sendNoContextTakeover: Bool
    private let receiveNoContextTakeover: Bool
    // Heap-allocated because zlib keeps a pointer back to its z_stream and checks it on every call.
    private var deflater: UnsafeMutablePointer<z_stream>?
    private var inflater: UnsafeMutablePointer<z_stream>?

    /// The window we send with must be at least 9 bits: zlib cannot deflate with an 8-bit window, which is
    /// why negotiation never agrees to one for our direction.
    public init(options: PerMessageDeflateOptions, role: WebSocketRole) {
        let (send, receive) = role == .server
            ? (options.serverMaxWindowBits, options.clientMaxWindowBits)
            : (options.clientMaxWindowBits, options.serverMaxWindowBits)
        precondition((9...15).contains(send) && (8...15).contains(receive), "unsupported window bits")
        sendWindowBits = Int32(send)
        receiveWindowBits = Int32(receive)
        sendNoContextTakeover = role == .server ? options.serverNoContextTakeover : options.clientNoContextTakeover
        receiveNoContextTakeover = role == .server ? options.clientNoContextTakeover : options.serverNoContextTakeover
    }

    deinit {
        releaseDeflater()
        releaseInflater()
    }

    /// Whether any zlib stream is currently allocated; tests use it to check idle connections stay lean.
    var holdsZlibState: Bool { deflater != nil || inflater != nil }

    /// Raw deflate of one whole message with Z_SYNC_FLUSH, trailing 00 00 FF FF removed (RFC 7692 §7.2.1).
    public func compress(_ message: UnsafeRawBufferPointer) -> [UInt8] {
        let stream = deflater ?? makeDeflater(messageBytes: message.count)
        defer { if sendNoContextTakeover { releaseDeflater() } }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: message.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(message.count)
        // deflateBound covers the data; the slack covers the flush marker, so avail_out never reaches zero
        // mid-flush (which would make zlib emit a second marker) and one pass normally suffices.
        let capacity = Int(deflateBound(stream, uLong(message.count))) + 16
        var output = Self.collect(from: stream, capacity: capacity, limit: .max) {
            let status = deflate(stream, Z_SYNC_FLUSH)
            precondition(status == Z_OK || status == Z_BUF_ERROR, "deflate failed with \(status)")
            // With room left over, zlib has written the whole flush.
            return stream.pointee.avail_out != 0
        }
        stream.pointee.next_in = nil
        // With no input since the previous message's flush zlib will not flush again and writes nothing; an
        // empty stored block's first byte is how RFC 7692 §7.2.3.6 spells the empty message.
        guard !output.isEmpty else { return [0x00] }
        output.removeLast(4)
        return output
    }

    /// Inflates one whole message (append 00 00 FF FF); stops and throws messageTooBig (1009) as soon as output
    /// would exceed maxBytes, never holding more than maxBytes + 1 bytes of output; corrupt data → invalidPayload (1007).
    public func decompress(_ payload: UnsafeRawBufferPointer, maxBytes: Int) throws -> [UInt8] {
        let stream = inflater ?? makeInflater()
        var keepStream = false
        defer { if !keepStream { releaseInflater() } }
        var tail: (UInt8, UInt8, UInt8, UInt8) = (0x00, 0x00, 0xFF, 0xFF)
        return try withUnsafeMutableBytes(of: &tail) { tail in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: payload.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(payload.count)
            defer { stream.pointee.next_in = nil; stream.pointee.avail_in = 0 }
            var tailFed = false
            var ended = false
            let limit = maxBytes < Int.max ? maxBytes + 1 : maxBytes
            let output = try Self.collect(from: stream, capacity: max(256, payload.count * 4), limit: limit) {
                while true {
                    if stream.pointee.avail_in == 0 && !tailFed {
                        stream.pointee.next_in = tail.baseAddress?.assumingMemoryBound(to: Bytef.self)
                        stream.pointee.avail_in = 4
                        tailFed = true
                    }
                    let status = inflate(stream, Z_SYNC_FLUSH)
                    switch status {
                    case Z_STREAM_END:
                        // A final block (BFINAL) ends the stream; whatever follows, including our tail, is ignored.
                        ended = true
                        return true
                    case Z_OK, Z_BUF_ERROR:
                        // Output may still be pending (say, the rest of a match), so only a call that stopped
                        // with room to spare proves the input is exhausted.
                        if stream.pointee.avail_out == 0 { return false }
                        guard stream.pointee.avail_in == 0 else { throw WebSocketError.invalidPayload("corrupt deflate data") }
                        if tailFed { return true }
                    default:
                        throw WebSocketError.invalidPayload("corrupt deflate data")
                    }
                }
            }
            guard output.count <= maxBytes else { throw WebSocketError.messageTooBig("inflated message too big") }
            // After the appended empty stored block inflate must wait at a block boundary (data_type bit 128);
            // anywhere else means the message was cut off mid-block.
            guard ended || stream.pointee.data_type & 128 != 0 else {
                throw WebSocketError.invalidPayload("truncated deflate data")
            }
            // A stream that ended cannot continue, so the next message starts a fresh one.
            keepStream = !ended && !receiveNoContextTakeover
            return output
        }
    }

    /// Runs `step` against successively larger output buffers until it reports it is done, or until `limit`
    /// bytes have been produced. Growth is geometric, so a bounded limit bounds memory too.
    private static func collect(
        from stream: UnsafeMutablePointer<z_stream>, capacity: Int, limit: Int, _ step: () throws -> Bool
    ) rethrows -> [UInt8] {
        var output: [UInt8] = []
        var capacity = min(capacity, limit)
        while true {
            var done = false
            output = try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                count = buffer.initialize(fromContentsOf: output)
                stream.pointee.next_out = buffer.baseAddress! + count
                stream.pointee.avail_out = uInt(capacity - count)
                defer { count = capacity - Int(stream.pointee.avail_out) }
                done = try step()
            }
            stream.pointee.next_out = nil
            if done || output.count >= limit { return output }
            capacity = capacity > limit / 2 ? limit : capacity * 2
        }
    }

    private func makeDeflater(messageBytes: Int) -> UnsafeMutablePointer<z_stream> {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        var windowBits = sendWindowBits
        var memLevel: Int32 = 8
        if sendNoContextTakeover {
            // This stream will see only this message, so a window covering it (plus the 262 bytes of lookahead
            // zlib keeps out of the window) compresses as well as the full one. Small messages then cost a few KB
            // of zlib state instead of ~256 KB allocated, cleared and freed per message.
            let needed = Int32(Int.bitWidth - (messageBytes + 262).leadingZeroBitCount)
            windowBits = min(sendWindowBits, max(9, needed))
            memLevel = min(8, windowBits - 7)
        }
        // Negative window bits select raw DEFLATE (no zlib header or checksum), as RFC 7692 requires.
        let status = czlib_deflate_init2(stream, Z_DEFAULT_COMPRESSION, -windowBits, memLevel)
        precondition(status == Z_OK, "deflateInit2 failed with \(status)")
        deflater = stream
        return stream
    }

    private func makeInflater() -> UnsafeMutablePointer<z_stream> {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = czlib_inflate_init2(stream, -receiveWindowBits)
        precondition(status == Z_OK, "inflateInit2 failed with \(status)")
        inflater = stream
        return stream
    }

    private func releaseDeflater() {
        guard let stream = deflater else { return }
        deflateEnd(stream)
        stream.deallocate()
        deflater = nil
    }

    private func releaseInflater() {
        guard let stream = inflater else { return }
        inflateEnd(stream)
        stream.deallocate()
        inflater = nil
    }
}
