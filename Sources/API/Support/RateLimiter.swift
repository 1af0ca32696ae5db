import Net

/// Token buckets keyed by caller (a token id or an IP), sharded so loops rarely share a lock.
public struct RateLimitConfiguration: Sendable {
    /// Requests per second a caller may sustain, and the burst above it.
    public var ratePerSecond: Double = 50
    public var burst: Double = 100
    /// Login, register and refresh attempts per IP: a much smaller bucket.
    public var authRatePerSecond: Double = 0.5
    public var authBurst: Double = 10

    public init() {}
}

final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: UInt64
    }

    private let shards: [Locked<[String: Bucket]>]

    init(shards: Int = 16) {
        self.shards = (0..<shards).map { _ in Locked([:]) }
    }

    enum Decision: Equatable {
        case allowed(remaining: Int)
        case limited(retryAfterSeconds: Int)
    }

    /// Takes one token from `key`'s bucket.
    func take(_ key: String, rate: Double, burst: Double, now: UInt64 = MonotonicClock.now()) -> Decision {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        return shards[Int(hash % UInt64(shards.count))].withLock { table in
            if table.count > 100_000 { table = table.filter { Double(now &- $0.value.updated) / 1e9 * rate < burst } }
            var bucket = table[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + Double(now &- bucket.updated) / 1e9 * rate)
            bucket.updated = now
            defer { table[key] = bucket }
            guard bucket.tokens >= 1 else {
                return .limited(retryAfterSeconds: max(1, Int(((1 - bucket.tokens) / rate).rounded(.up))))
            }
            bucket.tokens -= 1
            return .allowed(remaining: Int(bucket.tokens))
        }
    }
}
