/// A one-shot timer owned by one event loop. Cancel it, or let it fire once.
///
/// Timers live in a binary heap keyed by deadline; each timer remembers its heap slot so that
/// cancelling or rescheduling is O(log n) instead of leaving tombstones behind.
public final class LoopTimer {
    /// Monotonic deadline in nanoseconds (see `EventLoop.now`).
    public internal(set) var deadline: UInt64
    var callback: (() -> Void)?
    var heapIndex = -1

    init(deadline: UInt64, callback: @escaping () -> Void) {
        self.deadline = deadline
        self.callback = callback
    }

    /// Whether the timer is waiting to fire.
    public var isScheduled: Bool { heapIndex >= 0 }
}

/// Min-heap of timers by deadline, with stable slot indices for O(log n) removal.
struct TimerHeap {
    private var items: [LoopTimer] = []

    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }
    var earliest: UInt64? { items.first?.deadline }

    mutating func insert(_ timer: LoopTimer) {
        timer.heapIndex = items.count
        items.append(timer)
        siftUp(items.count - 1)
    }

    mutating func remove(_ timer: LoopTimer) {
        let index = timer.heapIndex
        guard index >= 0, index < items.count, items[index] === timer else { return }
        let last = items.count - 1
        if index != last {
            swapAt(index, last)
        }
        items.removeLast()
        timer.heapIndex = -1
        if index < items.count {
            siftDown(index)
            siftUp(index)
        }
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`.
    mutating func popExpired(now: UInt64) -> LoopTimer? {
        guard let first = items.first, first.deadline <= now else { return nil }
        remove(first)
        return first
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        items.swapAt(a, b)
        items[a].heapIndex = a
        items[b].heapIndex = b
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            if items[child].deadline >= items[parent].deadline { return }
            swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let n = items.count
        while true {
            let left = 2 * parent + 1
            if left >= n { return }
            var smallest = left
            let right = left + 1
            if right < n && items[right].deadline < items[left].deadline { smallest = right }
            if items[smallest].deadline >= items[parent].deadline { return }
            swapAt(parent, smallest)
            parent = smallest
        }
    }
}
