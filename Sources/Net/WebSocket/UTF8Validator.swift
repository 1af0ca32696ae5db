// Incremental UTF-8 validation (RFC 3629) for text messages, resumable across fragments so a bad
// sequence fails the connection as soon as its fragment arrives (RFC 6455 §8.1).

/// Validates UTF-8 in pieces: ASCII a 64-bit word at a time (four words per step on long runs), everything
/// else through a shift-based DFA whose state carries over from one piece to the next.
public struct UTF8Validator: Sendable {
    // DFA states are stored as bit offsets into a transition row, so one shift and mask is a transition.
    private static let accept: UInt64 = 0
    private static let reject: UInt64 = 6
    private static let tail1: UInt64 = 12   // one continuation byte still needed
    private static let tail2: UInt64 = 18   // two
    private static let tail3: UInt64 = 24   // three
    private static let afterE0: UInt64 = 30 // next must be A0–BF (rejects overlong 3-byte forms)
    private static let afterED: UInt64 = 36 // next must be 80–9F (rejects surrogates)
    private static let afterF0: UInt64 = 42 // next must be 90–BF (rejects overlong 4-byte forms)
    private static let afterF4: UInt64 = 48 // next must be 80–8F (rejects > U+10FFFF)

    /// For each byte value, the next state for every current state, packed 6 bits per state.
    private static let transitions: [UInt64] = (0..<256).map { byte in
        // Every transition not set below goes to reject, including reject's own.
        var row: UInt64 = 0
        for state in stride(from: UInt64(0), through: 48, by: 6) { row |= reject << state }
        func set(_ from: UInt64, _ to: UInt64) { row = row & ~(UInt64(63) << from) | to << from }
        switch byte {
        case 0x00...0x7F: set(accept, accept)
        case 0x80...0xBF:
            set(tail1, accept); set(tail2, tail1); set(tail3, tail2)
            if byte <= 0x8F { set(afterF4, tail2) } else { set(afterF0, tail2) }
            if byte <= 0x9F { set(afterED, tail1) } else { set(afterE0, tail1) }
        case 0xC2...0xDF: set(accept, tail1)
        case 0xE0: set(accept, afterE0)
        case 0xED: set(accept, afterED)
        case 0xE1...0xEF: set(accept, tail2)
        case 0xF0: set(accept, afterF0)
        case 0xF1...0xF3: set(accept, tail3)
        case 0xF4: set(accept, afterF4)
        default: break // C0, C1, F5–FF never appear in UTF-8
        }
        return row
    }

    private var state: UInt64 = 0

    public init() {}

    /// Feeds the next piece; false as soon as the bytes so far cannot be UTF-8 (and from then on).
    public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard state != Self.reject else { return false }
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var i = 0
        var state = self.state
        defer { self.state = state }
        return Self.transitions.withUnsafeBufferPointer { table in
            while i < count {
                if state == Self.accept {
                    while i + 32 <= count {
                        let a = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                        let b = base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
                        let c = base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)
                        let d = base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)
                        if (a | b | c | d) & 0x8080_8080_8080_8080 != 0 { break }
                        i += 32
                    }
                    while i + 8 <= count,
                          base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                        i += 8
                    }
                    if i == count { break }
                }
                let byte = base.load(fromByteOffset: i, as: UInt8.self)
                state = (table[Int(byte)] >> state) & 63
                if state == Self.reject { return false }
                i += 1
            }
            return true
        }
    }

    /// True when no multi-byte sequence is left half-done, i.e. a message may end here.
    public var isAtBoundary: Bool { state == Self.accept }

    /// Starts over for a new message, forgetting any earlier failure.
    public mutating func reset() { state = Self.accept }

    /// Whether `bytes` is complete, valid UTF-8 on its own.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var validator = UTF8Validator()
        return validator.validate(bytes) && validator.isAtBoundary
    }
}
