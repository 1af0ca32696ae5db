// RFC 6455 §5 frame decoding and message reassembly, plus RFC 7692 inflation.

/// Whether a message carries UTF-8 text or arbitrary bytes.
public enum WebSocketMessageKind: Sendable { case text, binary }

/// What the decoder reports. Buffers point into the caller's input or the decoder's reassembly storage and are
/// valid only during the callback.
public enum WebSocketEvent {
    /// A whole message, unmasked, inflated and UTF-8 checked.
    case message(WebSocketMessageKind, UnsafeRawBufferPointer)
    case ping(UnsafeRawBufferPointer)
    case pong(UnsafeRawBufferPointer)
    /// A validated close frame; code is nil when the frame was empty.
    case close(code: UInt16?, reason: String)
}

/// Turns received bytes into events. Unfragmented messages are reported straight from the caller's buffer
/// (unmasked in place), so the common case costs no allocation; only fragmented or compressed messages are copied.
public struct WebSocketFrameDecoder {
    private let requireMask: Bool
    private let maxMessageBytes: Int
    /// Compressed data may be slightly larger than its inflated form (stored blocks add 5 bytes per 64 KiB),
    /// so a maximal incompressible message must still pass the header-time size check.
    private let maxCompressedBytes: Int
    private let deflate: PerMessageDeflate?

    // The fragmented message in progress; kind is nil between messages.
    private var messageKind: WebSocketMessageKind?
    private var messageCompressed = false
    private var messageBytes = 0
    private var fragments: [UInt8] = []
    private var utf8 = UTF8Validator()

    /// `deflate` is the connection's negotiated permessage-deflate, or nil when none was agreed (RSV1 then → 1002).
    public init(role: WebSocketRole, maxMessageBytes: Int, deflate: PerMessageDeflate? = nil) {
        precondition(maxMessageBytes >= 0, "negative maxMessageBytes")
        requireMask = role == .server
        self.maxMessageBytes = maxMessageBytes
        let slack = maxMessageBytes / 1024 + 64
        maxCompressedBytes = maxMessageBytes > Int.max - slack ? Int.max : maxMessageBytes + slack
        self.deflate = deflate
    }

    /// A fragmented message is partially received.
    public var isInsideMessage: Bool { messageKind != nil }

    /// Decodes every COMPLETE frame in `input` (unmasking payloads in place) and emits events; returns the bytes
    /// consumed. A trailing partial frame is not consumed (nor touched): the caller keeps it and presents it again
    /// with more bytes appended. Header-level violations throw as soon as the header has arrived, before the payload.
    /// Decoding stops right after a close frame, since nothing may follow it; bytes after it are not consumed.
    /// `emit` must not access this decoder (it is being mutated).
    public mutating func decode(_ input: UnsafeMutableRawBufferPointer, _ emit: (WebSocketEvent) throws -> Void) throws -> Int {
        guard let base = input.baseAddress else { return 0 }
        var offset = 0
        frames: while offset < input.count {
            let available = input.count - offset
            let frame = base + offset
            let byte0 = frame.load(as: UInt8.self)
            let fin = byte0 & 0x80 != 0
            let rsv1 = byte0 & 0x40 != 0
            guard byte0 & 0x30 == 0 else { throw WebSocketError.protocolError("reserved bits RSV2/RSV3 set") }
            guard let opcode = WebSocketOpcode(rawValue: byte0 & 0x0F) else {
                throw WebSocketError.protocolError("unknown opcode")
            }
            try checkFrameStart(opcode: opcode, fin: fin, rsv1: rsv1)
            guard available >= 2 else { break frames }
            let byte1 = frame.load(fromByteOffset: 1, as: UInt8.self)
            guard (byte1 & 0x80 != 0) == requireMask else {
                throw WebSocketError.protocolError(requireMask ? "client frame not masked" : "server frame masked")
            }
            var length = Int(byte1 & 0x7F)
            if opcode.isControl && length > 125 {
                throw WebSocketError.protocolError("control frame longer than 125 bytes")
            }
            var headerSize = 2
            if length == 126 {
                guard available >= 4 else { break frames }
                length = Int(UInt16(bigEndian: frame.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
                headerSize = 4
            } else if length == 127 {
                guard available >= 10 else { break frames }
                let wide = UInt64(bigEndian: frame.loadUnaligned(fromByteOffset: 2, as: UInt64.self))
                guard wide >> 63 == 0 else { throw WebSocketError.protocolError("64-bit length has its top bit set") }
                length = Int(wide)
                headerSize = 10
            }
            if !opcode.isControl { try checkMessageSize(opcode: opcode, rsv1: rsv1, adding: length) }
            let maskOffset = headerSize
            if requireMask { headerSize += 4 }
            guard available - headerSize >= length else { break frames }

            let payload = UnsafeMutableRawBufferPointer(start: frame + headerSize, count: length)
            if requireMask {
                let key = UInt32(bigEndian: frame.loadUnaligned(fromByteOffset: maskOffset, as: UInt32.self))
                WebSocketFrame.applyMask(payload, key: key)
            }
            offset += headerSize + length
            let bytes = UnsafeRawBufferPointer(payload)

            switch opcode {
            case .text, .binary:
                let kind: WebSocketMessageKind = opcode == .text ? .text : .binary
                if fin && !rsv1 {
                    // The hot path: a whole uncompressed message, reported in place.
                    guard kind == .binary || UTF8Validator.isValid(bytes) else {
                        throw WebSocketError.invalidPayload("text message is not valid UTF-8")
                    }
                    try emit(.message(kind, bytes))
                } else if fin {
                    try emitInflated(kind, bytes, emit)
                } else {
                    messageKind = kind
                    messageCompressed = rsv1
                    messageBytes = 0
                    utf8.reset()
                    try appendFragment(bytes)
                }
            case .continuation:
                try appendFragment(bytes)
                if fin { try finishMessage(emit) }
            case .ping:
                try emit(.ping(bytes))
            case .pong:
                try emit(.pong(bytes))
            case .close:
                try emit(Self.closeEvent(bytes))
                break frames
            }
        }
        return offset
    }

    /// Rules decidable from the first header byte and the message state (RFC 6455 §5.2, §5.4, §5.5).
    private func checkFrameStart(opcode: WebSocketOpcode, fin: Bool, rsv1: Bool) throws {
        if opcode.isControl {
            guard fin else { throw WebSocketError.protocolError("fragmented control frame") }
            guard !rsv1 else { throw WebSocketError.protocolError("RSV1 set on a control frame") }
        } else if opcode == .continuation {
            guard messageKind != nil else { throw WebSocketError.protocolError("continuation without a message") }
            guard !rsv1 else { throw WebSocketError.protocolError("RSV1 set on a continuation frame") }
        } else {
            guard messageKind == nil else { throw WebSocketError.protocolError("new message inside a fragmented one") }
            // RSV1 marks a compressed message (RFC 7692 §6) and means nothing without the extension.
            guard !rsv1 || deflate != nil else { throw WebSocketError.protocolError("RSV1 set without permessage-deflate") }
        }
    }

    /// Rejects a data frame whose length would take its message past the limit, before its payload arrives.
    private func checkMessageSize(opcode: WebSocketOpcode, rsv1: Bool, adding length: Int) throws {
        let continuing = opcode == .continuation
        let compressed = continuing ? messageCompressed : rsv1
        let limit = compressed ? maxCompressedBytes : maxMessageBytes
        guard length <= limit - (continuing ? messageBytes : 0) else {
            throw WebSocketError.messageTooBig("message larger than \(maxMessageBytes) bytes")
        }
    }

    /// Stores one fragment; uncompressed text is validated now so bad UTF-8 fails before the message ends.
    private mutating func appendFragment(_ bytes: UnsafeRawBufferPointer) throws {
        if messageKind == .text && !messageCompressed {
            guard utf8.validate(bytes) else { throw WebSocketError.invalidPayload("text message is not valid UTF-8") }
        }
        messageBytes += bytes.count
        fragments.append(contentsOf: bytes)
    }

    private mutating func finishMessage(_ emit: (WebSocketEvent) throws -> Void) throws {
        guard let kind = messageKind else { return }
        // Take the storage so an idle connection does not keep the largest message's buffer alive.
        let message = fragments
        fragments = []
        messageKind = nil
        if messageCompressed {
            try message.withUnsafeBytes { try emitInflated(kind, $0, emit) }
        } else {
            guard kind == .binary || utf8.isAtBoundary else {
                throw WebSocketError.invalidPayload("text message ends inside a UTF-8 sequence")
            }
            try message.withUnsafeBytes { try emit(.message(kind, $0)) }
        }
    }

    private func emitInflated(
        _ kind: WebSocketMessageKind, _ compressed: UnsafeRawBufferPointer, _ emit: (WebSocketEvent) throws -> Void
    ) throws {
        // checkFrameStart only lets RSV1 through when deflate was negotiated.
        let inflated = try deflate!.decompress(compressed, maxBytes: maxMessageBytes)
        try inflated.withUnsafeBytes { bytes in
            guard kind == .binary || UTF8Validator.isValid(bytes) else {
                throw WebSocketError.invalidPayload("text message is not valid UTF-8")
            }
            try emit(.message(kind, bytes))
        }
    }

    /// Validates a close frame's body (RFC 6455 §5.5.1, §7.4).
    private static func closeEvent(_ payload: UnsafeRawBufferPointer) throws -> WebSocketEvent {
        guard !payload.isEmpty else { return .close(code: nil, reason: "") }
        guard payload.count >= 2 else { throw WebSocketError.protocolError("close frame with a 1-byte body") }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        guard WebSocketFrame.isValidCloseCode(code) else { throw WebSocketError.protocolError("invalid close code") }
        let reason = UnsafeRawBufferPointer(rebasing: payload[2...])
        guard UTF8Validator.isValid(reason) else { throw WebSocketError.invalidPayload("close reason is not valid UTF-8") }
        return .close(code: code, reason: String(decoding: reason, as: UTF8.self))
    }
}
