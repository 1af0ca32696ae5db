import Net
import Store

/// One loop's cached public responses, keyed by what they answer. An entry is served only while no
/// write went through the API since it was made and for at most a second (writes by other processes,
/// like the CLI, are seen within that second).
final class ReadCache: @unchecked Sendable {
    // Invariant: used only on the loop whose index selects it (immediate handlers run there).
    var entries: [String: (response: HTTPResponse, epoch: Int, until: UInt64)] = [:]

    static let lifetimeNanoseconds: UInt64 = 1_000_000_000
}

extension APIContext {
    /// The cached response for `key`, or `build()`'s (cached when it returns one to share).
    func cachedRead(_ key: String, _ build: () throws(APIError) -> (response: HTTPResponse, shareable: Bool)) throws(APIError) -> HTTPResponse {
        let cache = api.readCaches[request.loopIndex & 255]
        let epoch = api.writeEpoch.load(ordering: .acquiring)
        let now = MonotonicClock.now()
        if let hit = cache.entries[key], hit.epoch == epoch, hit.until > now { return hit.response }
        let (response, shareable) = try build()
        if shareable {
            if cache.entries.count >= 10_000 { cache.entries.removeAll(keepingCapacity: true) }
            cache.entries[key] = (response, epoch, now + ReadCache.lifetimeNanoseconds)
        }
        return response
    }
}

/// One loop's verified credentials.
final class CredentialCache: @unchecked Sendable {
    // Invariant: used only on the loop whose index selects it (authentication runs on the request's loop).
    var entries: [String: (user: User, until: UInt64, epoch: Int)] = [:]
}
