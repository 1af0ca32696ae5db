import Dispatch
import Synchronization
import Testing
@testable import Store

/// Ids: 22 URL-safe characters, ordered by creation time, never repeated, from any thread, across the
/// random pool's refills (4 KiB, 409 ids each).
@Suite struct IdentifierTests {
    @Test func idsAreURLSafeSortByTimeAndNeverRepeatAcrossThreadsAndRefills() {
        let urlSafe = Set("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
        let perThread = 5_000
        let made = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            var mine: [String] = []
            mine.reserveCapacity(perThread)
            for _ in 0..<perThread { mine.append(StoreID.make()) }
            made.withLock { $0 += mine }
        }
        let ids = made.withLock { $0 }
        #expect(ids.count == 8 * perThread)
        #expect(Set(ids).count == ids.count, "an id was handed out twice")
        #expect(ids.allSatisfy { $0.count == 22 && $0.allSatisfy(urlSafe.contains) })

        let earlier = StoreID.make()
        let start = StoreClock.nowMilliseconds()
        while StoreClock.nowMilliseconds() < start + 2 {}
        #expect(earlier < StoreID.make(), "a later millisecond sorts after")

        // The 80 random bits vary: within one millisecond, ids share their first 8 characters and
        // then differ.
        let sameMillisecond = (0..<100).map { _ in StoreID.make() }
        #expect(Set(sameMillisecond.map { $0.dropFirst(8) }).count == 100)
    }
}
