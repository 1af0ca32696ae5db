import Glibc

/// Reads the common Chat Completions chunk, a text delta and nothing else to act on, straight from
/// its bytes, without building a JSON tree: at 50,000 chunks/s the tree's dictionaries, strings and
/// reference counting were a large part of the relay's own cost (docs/performance.md, issue 4).
///
/// It accepts only this shape, keys in any order:
///
///     {"id":"…","object":"…","created":123,"model":"…","system_fingerprint":"…"|null,
///      "service_tier":"…"|null,"obfuscation":"…","usage":null,
///      "choices":[{"index":0,"delta":{"role":"…","content":"…"|null},"logprobs":null,"finish_reason":null}]}
///
/// and gives up (nil) on anything else: an error, usage, tool calls, a refusal, a finish reason, any
/// backslash or control character, another key, another type, a repeated key. The general decoder then
/// reads the chunk, so both paths always agree on what a chunk means (OpenAITextChunkTests).
enum OpenAITextChunk {
    /// The delta's text ("" when it has none), or nil when the chunk is not of the accepted shape.
    static func text(_ data: String) -> String? {
        var data = data
        return data.withUTF8 { text(UnsafeRawBufferPointer($0)) }
    }

    /// The same for the chunk's bytes; JSON whitespace around the object is allowed.
    static func text(_ data: UnsafeRawBufferPointer) -> String? {
        var reader = Reader(bytes: data.assumingMemoryBound(to: UInt8.self))
        return reader.chunk()
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0

        mutating func chunk() -> String? {
            var text: String?
            var seenChoices = false
            var seen = Key.Seen()
            guard object({ reader, key in
                guard seen.insert(key) else { return false }
                switch key {
                case .id, .object, .model, .obfuscation: return reader.skipString()
                case .systemFingerprint, .serviceTier: return reader.null() || reader.skipString()
                case .created: return reader.digits()
                case .usage: return reader.null()
                case .choices:
                    seenChoices = true
                    text = reader.choices()
                    return text != nil
                default: return false
                }
            }), skipWhitespace(), offset == bytes.count, seenChoices else { return nil }
            return text
        }

        /// `[{…}]`, exactly one choice: index 0, a delta, no logprobs, no finish reason.
        mutating func choices() -> String? {
            guard consume(UInt8(ascii: "[")) else { return nil }
            var text: String?
            var seen = Key.Seen()
            guard object({ reader, key in
                guard seen.insert(key) else { return false }
                switch key {
                case .index: return reader.literal("0")
                case .logprobs, .finishReason: return reader.null()
                case .delta:
                    text = reader.delta()
                    return text != nil
                default: return false
                }
            }), seen.contains(.delta), consume(UInt8(ascii: "]")) else { return nil }
            return text
        }

        /// `{"role":…,"content":…}`, both optional; content a string or null.
        mutating func delta() -> String? {
            var text = ""
            var seen = Key.Seen()
            guard object({ reader, key in
                guard seen.insert(key) else { return false }
                switch key {
                case .role: return reader.skipString()
                case .content:
                    if reader.null() { return true }
                    guard let value = reader.string() else { return false }
                    text = value
                    return true
                default: return false
                }
            }) else { return nil }
            return text
        }

        /// An object whose every member `member` accepts (it reads the value after the colon).
        mutating func object(_ member: (inout Reader, Key) -> Bool) -> Bool {
            guard consume(UInt8(ascii: "{")) else { return false }
            if consume(UInt8(ascii: "}")) { return true }
            repeat {
                guard skipWhitespace(), let name = rawString(), consume(UInt8(ascii: ":")), skipWhitespace() else { return false }
                guard let key = Key(name: name), member(&self, key) else { return false }
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "}"))
        }

        /// A string with no escapes and no control characters (else nil: the general path decides).
        mutating func string() -> String? {
            rawString().map { String(decoding: $0, as: UTF8.self) }
        }

        /// `string()` for values that are only checked, not kept: no String is made.
        mutating func skipString() -> Bool { rawString() != nil }

        /// The bytes between the quotes of a string with no escapes and no control characters.
        mutating func rawString() -> UnsafeBufferPointer<UInt8>? {
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { return nil }
            let start = offset + 1
            var end = start
            while end < bytes.count {
                let byte = bytes[end]
                if byte == UInt8(ascii: "\"") {
                    offset = end + 1
                    return UnsafeBufferPointer(rebasing: bytes[start..<end])
                }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                end += 1
            }
            return nil
        }

        mutating func null() -> Bool { literal("null") }

        mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard offset + count <= bytes.count else { return false }
            for i in 0..<count where bytes[offset + i] != word.utf8Start[i] { return false }
            // "0" must not be the start of "01" or "0.5", nor "null" of "nullx".
            if offset + count < bytes.count, isWordByte(bytes[offset + count]) { return false }
            offset += count
            return true
        }

        /// A non-negative integer as JSON writes it: no leading zero, no fraction or exponent.
        mutating func digits() -> Bool {
            let start = offset
            while offset < bytes.count, bytes[offset] >= UInt8(ascii: "0"), bytes[offset] <= UInt8(ascii: "9") { offset += 1 }
            guard offset > start, !(bytes[start] == UInt8(ascii: "0") && offset - start > 1) else { return false }
            return offset == bytes.count || !isWordByte(bytes[offset])
        }

        func isWordByte(_ byte: UInt8) -> Bool {
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "+")
        }

        /// Skips whitespace, then takes `byte` if it is next.
        mutating func consume(_ byte: UInt8) -> Bool {
            _ = skipWhitespace()
            guard offset < bytes.count, bytes[offset] == byte else { return false }
            offset += 1
            return true
        }

        /// Always true, so it can sit in a guard's condition list.
        mutating func skipWhitespace() -> Bool {
            while offset < bytes.count {
                switch bytes[offset] {
                case 0x20, 0x09, 0x0A, 0x0D: offset += 1
                default: return true
                }
            }
            return true
        }
    }

    private enum Key: Int {
        case id, object, created, model, usage, choices, obfuscation, systemFingerprint, serviceTier
        case index, delta, logprobs, finishReason
        case role, content

        private static let names: [(StaticString, Key)] = [
            ("id", .id), ("object", .object), ("created", .created), ("model", .model), ("usage", .usage),
            ("choices", .choices), ("obfuscation", .obfuscation), ("system_fingerprint", .systemFingerprint),
            ("service_tier", .serviceTier), ("index", .index), ("delta", .delta), ("logprobs", .logprobs),
            ("finish_reason", .finishReason), ("role", .role), ("content", .content),
        ]

        /// The key spelled by these bytes, compared as bytes (no String is made). Length and first
        /// byte leave one candidate, or three for "c" and 7 bytes, before a `memcmp`.
        init?(name: UnsafeBufferPointer<UInt8>) {
            for (spelling, key) in Key.names where spelling.utf8CodeUnitCount == name.count && spelling.utf8Start[0] == name[0] {
                if memcmp(spelling.utf8Start, name.baseAddress!, name.count) == 0 {
                    self = key
                    return
                }
            }
            return nil
        }

        /// The keys met in one object, as bits: a repeated key sends the chunk to the general path.
        struct Seen {
            private var bits: UInt32 = 0

            /// False if `key` was already there.
            mutating func insert(_ key: Key) -> Bool {
                let bit = UInt32(1) << key.rawValue
                defer { bits |= bit }
                return bits & bit == 0
            }

            func contains(_ key: Key) -> Bool { bits & UInt32(1) << key.rawValue != 0 }
        }

    }
}
