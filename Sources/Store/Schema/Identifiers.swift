import CCrypto
import Glibc
import Synchronization

/// Opaque, URL-safe ids in the UUIDv7 layout: a 48-bit millisecond timestamp, then 80 random bits
/// from libcrypto's CSPRNG, written with the 64 URL-safe characters in ASCII order (22 characters),
/// so that ids sort by creation time as text.
///
/// Fully random ids scattered every insert across an index: a batch of 35 messages dirtied ~35 leaf
/// pages of the id index, and the WAL writes for them were the writer's largest cost. With the time
/// first, new rows land at the right edge of the index; the 80 random bits keep ids unguessable.
public enum StoreID {
    public static func make() -> String {
        // Runs once or more per stored row, on the writer thread: no heap work but the String.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { bytes in
            let milliseconds = UInt64(max(0, StoreClock.nowMilliseconds()))
            for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(i))) }
            let (high, low) = randomPool.withLock { $0.takeEightyBits() }
            for i in 0..<8 { bytes[6 + i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i))) }
            bytes[14] = UInt8(truncatingIfNeeded: low >> 8)
            bytes[15] = UInt8(truncatingIfNeeded: low)
            return encode(UnsafeBufferPointer(bytes), alphabet: sortableAlphabet)
        }
    }

    /// libcrypto's CSPRNG output fetched 4 KiB at a time. One `RAND_bytes` call costs about a
    /// microsecond here (OpenSSL 3's DRBG behind provider dispatch and locks), and asking it for 10
    /// bytes per stored row was 10% of the writer thread. The bytes are the same CSPRNG's; they just wait
    /// in this buffer until used, each handed out once. (Not fork-safe the way OpenSSL's own state is:
    /// a child forked without exec would repeat the parent's buffer. The server only spawns children
    /// that exec at once.) Tokens and keys still call `RAND_bytes` directly.
    private static let randomPool = Mutex(RandomPool())

    /// The base64url characters in ASCII order, so encoded values sort like the bytes they encode.
    private static let sortableAlphabet: StaticString = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    private static let standardAlphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    /// Unpadded base64url (RFC 4648 §5).
    public static func base64URL(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { encode($0, alphabet: standardAlphabet) }
    }

    private static func encode(_ bytes: UnsafeBufferPointer<UInt8>, alphabet: StaticString) -> String {
        let length = (bytes.count * 4 + 2) / 3
        let table = alphabet.utf8Start
        return String(unsafeUninitializedCapacity: length) { out in
            var i = 0
            var o = 0
            while i + 3 <= bytes.count {
                let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
                out[o] = table[Int(n >> 18 & 63)]
                out[o + 1] = table[Int(n >> 12 & 63)]
                out[o + 2] = table[Int(n >> 6 & 63)]
                out[o + 3] = table[Int(n & 63)]
                i += 3
                o += 4
            }
            let rest = bytes.count - i
            if rest > 0 {
                let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
                out[o] = table[Int(n >> 18 & 63)]
                out[o + 1] = table[Int(n >> 12 & 63)]
                o += 2
                if rest == 2 {
                    out[o] = table[Int(n >> 6 & 63)]
                    o += 1
                }
            }
            return o
        }
    }
}

/// A buffer of CSPRNG bytes, each handed out once.
private struct RandomPool: ~Copyable {
    private static let size = 4_096
    private let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: RandomPool.size)
    private var next = RandomPool.size

    deinit { bytes.deallocate() }

    /// 80 random bits, as 64 and 16.
    mutating func takeEightyBits() -> (UInt64, UInt16) {
        let count = 10
        if next + count > RandomPool.size {
            guard RAND_bytes(bytes, Int32(RandomPool.size)) == 1 else {
                // The CSPRNG failing means the process cannot make safe ids or tokens at all.
                fatalError("RAND_bytes failed: the system random source is unavailable")
            }
            next = 0
        }
        var high: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(bytes[next + i]) }
        let low = UInt16(bytes[next + 8]) << 8 | UInt16(bytes[next + 9])
        // Used bytes are wiped so that nothing in memory can replay an id's random part.
        (bytes + next).update(repeating: 0, count: count)
        next += count
        return (high, low)
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
