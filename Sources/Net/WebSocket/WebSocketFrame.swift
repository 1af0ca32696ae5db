// RFC 6455 §5 framing primitives shared by the decoder and by whoever writes frames.

/// A frame's opcode (RFC 6455 §5.2); the raw values are the wire values.
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10

    /// Control frames (close, ping, pong) have the high opcode bit set and may sit between fragments.
    public var isControl: Bool { rawValue & 0x08 != 0 }
}

/// Which end of the connection this is; it decides which way masking must go (RFC 6455 §5.1).
public enum WebSocketRole: Sendable { case server, client }

/// Why the connection must be failed, with the close code to send.
public struct WebSocketError: Error, Equatable, Sendable {
    public let closeCode: UInt16
    /// Short human text; at most 123 bytes of UTF-8 so it fits a close frame next to the code.
    public let reason: String

    /// Any close code; the reason is cut to 123 bytes on a character boundary.
    public init(closeCode: UInt16, reason: String) {
        self.closeCode = closeCode
        self.reason = reason.utf8.count <= 123
            ? reason : String(decoding: WebSocketFrame.utf8Prefix(reason, maxBytes: 123), as: UTF8.self)
    }

    /// 1002: the peer broke the framing rules.
    public static func protocolError(_ reason: String) -> WebSocketError { .init(closeCode: 1002, reason: reason) }
    /// 1007: the data contradicts its type (bad UTF-8, corrupt deflate stream).
    public static func invalidPayload(_ reason: String) -> WebSocketError { .init(closeCode: 1007, reason: reason) }
    /// 1009: the message is larger than we accept.
    public static func messageTooBig(_ reason: String) -> WebSocketError { .init(closeCode: 1009, reason: reason) }
}

/// Frame encoding helpers; stateless, so they are static.
public enum WebSocketFrame {
    /// Appends a frame header: 2, 4 or 10 bytes, plus the 4-byte key when maskKey != nil.
    /// The key goes on the wire most significant byte first, the same order `applyMask` uses.
    public static func appendHeader(
        to out: inout [UInt8], fin: Bool, rsv1: Bool, opcode: WebSocketOpcode, length: Int, maskKey: UInt32?
    ) {
        precondition(length >= 0, "negative payload length")
        out.append((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode.rawValue)
        let maskBit: UInt8 = maskKey == nil ? 0 : 0x80
        if length < 126 {
            out.append(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            out.append(maskBit | 126)
            out.append(UInt8(truncatingIfNeeded: length >> 8))
            out.append(UInt8(truncatingIfNeeded: length))
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: length >> shift))
            }
        }
        if let key = maskKey {
            out.append(UInt8(truncatingIfNeeded: key >> 24))
            out.append(UInt8(truncatingIfNeeded: key >> 16))
            out.append(UInt8(truncatingIfNeeded: key >> 8))
            out.append(UInt8(truncatingIfNeeded: key))
        }
    }

    /// XORs the mask in place; `phase` is the payload offset of buffer[0] (0...3 matters) so a payload can be masked in pieces.
    public static func applyMask(_ buffer: UnsafeMutableRawBufferPointer, key: UInt32, phase: Int = 0) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        // Rotate so the key's first byte lines up with buffer[0], then lay it out in memory order so
        // one 64-bit XOR masks 8 bytes regardless of the machine's endianness.
        let shift = UInt32(8 * (phase & 3))
        let rotated = shift == 0 ? key : key << shift | key >> (32 - shift)
        let memoryOrder = UInt64(rotated.bigEndian)
        let word = memoryOrder | memoryOrder << 32
        var i = 0
        while i + 8 <= count {
            let v = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            base.storeBytes(of: v ^ word, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        // i is a multiple of 8, so the tail starts at key byte 0 of the rotated key.
        while i < count {
            let keyByte = UInt8(truncatingIfNeeded: rotated >> UInt32(24 - 8 * (i & 3)))
            base.storeBytes(of: base.load(fromByteOffset: i, as: UInt8.self) ^ keyByte, toByteOffset: i, as: UInt8.self)
            i += 1
        }
    }

    /// Whole frame (header + payload, masked if a key is given).
    public static func encode(
        opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer, fin: Bool = true, rsv1: Bool = false,
        maskKey: UInt32? = nil
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(14 + payload.count)
        appendHeader(to: &out, fin: fin, rsv1: rsv1, opcode: opcode, length: payload.count, maskKey: maskKey)
        let headerSize = out.count
        out.append(contentsOf: payload)
        if let key = maskKey {
            out.withUnsafeMutableBytes { applyMask(UnsafeMutableRawBufferPointer(rebasing: $0[headerSize...]), key: key) }
        }
        return out
    }

    /// Close frame payload: 2-byte code + reason truncated to fit 125 bytes on a UTF-8 boundary.
    public static func closePayload(code: UInt16, reason: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(truncatingIfNeeded: code >> 8), UInt8(truncatingIfNeeded: code)]
        out.append(contentsOf: utf8Prefix(reason, maxBytes: 123))
        return out
    }

    /// Codes a peer may put in a close frame: 1000–1003, 1007–1014, 3000–4999.
    /// 1004–1006 and 1015 are reserved for local use and must never travel on the wire (RFC 6455 §7.4.1).
    public static func isValidCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }

    /// The longest prefix of `text` that fits in `maxBytes` without splitting a character's UTF-8 sequence.
    static func utf8Prefix(_ text: String, maxBytes: Int) -> ArraySlice<UInt8> {
        let bytes = Array(text.utf8)
        guard bytes.count > maxBytes else { return bytes[...] }
        var end = maxBytes
        // Back up over continuation bytes (10xxxxxx) so the cut lands before a lead byte.
        while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return bytes[..<end]
    }
}
