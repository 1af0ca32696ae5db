import CCrypto
import Glibc

/// Opaque, URL-safe ids in the UUIDv7 layout: a 48-bit millisecond timestamp, then 80 random bits
/// from libcrypto's CSPRNG, written with the 64 URL-safe characters in ASCII order (22 characters),
/// so that ids sort by creation time as text.
///
/// Fully random ids scattered every insert across an index: a batch of 35 messages dirtied ~35 leaf
/// pages of the id index, and the WAL writes for them were the writer's largest cost. With the time
/// first, new rows land at the right edge of the index; the 80 random bits keep ids unguessable.
public enum StoreID {
    public static func make() -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let milliseconds = UInt64(max(0, StoreClock.nowMilliseconds()))
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(i))) }
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress! + 6, 10) }
        guard ok == 1 else {
            // The CSPRNG failing means the process cannot make safe ids or tokens at all.
            fatalError("RAND_bytes failed: the system random source is unavailable")
        }
        return encode(bytes, alphabet: sortableAlphabet)
    }

    /// The base64url characters in ASCII order, so encoded values sort like the bytes they encode.
    private static let sortableAlphabet = Array("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz".utf8)
    private static let standardAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Unpadded base64url (RFC 4648 §5).
    public static func base64URL(_ bytes: [UInt8]) -> String {
        encode(bytes, alphabet: standardAlphabet)
    }

    private static func encode(_ bytes: [UInt8], alphabet: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Times are UTC milliseconds since the Unix epoch, stored as INTEGER.
public enum StoreClock {
    public static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
