import Glibc

/// Reads the one JSON shape of a stream's most common chunk straight from its bytes, for the
/// providers' direct readings (`OpenAITextChunk`, `AnthropicTextChunk`, `GeminiTextChunk`,
/// `OllamaTextChunk`). Each reading walks its expected shape with these steps and gives up (false
/// or nil) at the first thing it does not expect, including any string with an escape or a control
/// character: the general path then reads the chunk, so a direct reading can only decline, never
/// disagree.
struct PlainJSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var offset = 0

    init(_ data: UnsafeRawBufferPointer) {
        bytes = data.assumingMemoryBound(to: UInt8.self)
    }

    /// True when only JSON whitespace is left.
    mutating func atEnd() -> Bool {
        _ = skipWhitespace()
        return offset == bytes.count
    }

    /// An object whose every member `member` accepts (it reads the value after the colon), each key
    /// at most once: the keys it had, or nil.
    mutating func object<Key: PlainJSONKey>(_ member: (inout PlainJSONReader, Key) -> Bool) -> PlainJSONKeySet<Key>? {
        var seen = PlainJSONKeySet<Key>()
        guard consume(UInt8(ascii: "{")) else { return nil }
        if consume(UInt8(ascii: "}")) { return seen }
        repeat {
            guard skipWhitespace(), let name = rawString(), consume(UInt8(ascii: ":")), skipWhitespace() else { return nil }
            guard let key = Key(name: name), seen.insert(key), member(&self, key) else { return nil }
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "}")) ? seen : nil
    }

    /// A string with no escapes and no control characters (else nil: the general path decides).
    mutating func string() -> String? {
        rawString().map { String(decoding: $0, as: UTF8.self) }
    }

    /// `string()` for values that are only checked, not kept: no String is made.
    mutating func skipString() -> Bool { rawString() != nil }

    /// A string that is exactly `word` (compared as bytes).
    mutating func exactString(_ word: StaticString) -> Bool {
        guard let value = rawString(), value.count == word.utf8CodeUnitCount else { return false }
        return value.isEmpty || memcmp(value.baseAddress!, word.utf8Start, value.count) == 0
    }

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

    /// `digits()` with its value, up to 18 digits (so it cannot overflow).
    mutating func integer() -> Int? {
        let start = offset
        guard digits(), offset - start <= 18 else { return nil }
        var value = 0
        for index in start..<offset { value = value * 10 + Int(bytes[index] - UInt8(ascii: "0")) }
        return value
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

/// The member names one direct reading knows. Any other name makes it decline.
protocol PlainJSONKey: RawRepresentable where RawValue == Int {
    static var names: [(StaticString, Self)] { get }
}

extension PlainJSONKey {
    /// The key spelled by these bytes, compared as bytes (no String is made). Length and first byte
    /// leave one candidate, or a few, before a `memcmp`.
    init?(name: UnsafeBufferPointer<UInt8>) {
        for (spelling, key) in Self.names where spelling.utf8CodeUnitCount == name.count && spelling.utf8Start[0] == name[0] {
            if memcmp(spelling.utf8Start, name.baseAddress!, name.count) == 0 {
                self = key
                return
            }
        }
        return nil
    }
}

/// The keys met in one object, as bits: a repeated key makes a reading decline.
struct PlainJSONKeySet<Key: PlainJSONKey> {
    private var bits: UInt64 = 0

    /// False if `key` was already there.
    mutating func insert(_ key: Key) -> Bool {
        let bit = UInt64(1) << key.rawValue
        defer { bits |= bit }
        return bits & bit == 0
    }

    func contains(_ key: Key) -> Bool { bits & UInt64(1) << key.rawValue != 0 }
}
