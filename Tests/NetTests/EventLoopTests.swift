import Glibc
import Net
import Testing

/// Handing work to a loop from another thread.
@Suite struct EventLoopTests {
    @Test func executeAndWaitRunsTheBodyOnTheLoopThreadAndReturnsItsResult() throws {
        let group = try EventLoopGroup(loopCount: 1)
        try group.start()
        defer { group.shutdown() }
        let loop = group.loops[0]
        #expect(!loop.inLoop)
        let (onLoop, value) = loop.executeAndWait { (loop.inLoop, 6 * 7) }
        #expect(onLoop)
        #expect(value == 42)
        // Tasks already queued run first: the inbox keeps its order.
        let order = Locked<[Int]>([])
        loop.execute { order.withLock { $0.append(1) } }
        loop.executeAndWait { order.withLock { $0.append(2) } }
        #expect(order.withLock { $0 } == [1, 2])
    }
}
