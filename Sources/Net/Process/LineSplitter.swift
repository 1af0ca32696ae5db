import Glibc

/// Cuts a byte stream into lines at "\n", dropping the "\n" and a "\r" just before it.
///
/// A line may hold at most `limit` bytes before its "\n". What happens to a longer one depends on the
/// stream: a child's stdout carries JSON-RPC messages, and one that big means a broken or hostile
/// server (`.fail`); its stderr is only logged, so the line is cut to `limit` bytes, delivered at
/// once, and the rest of it skipped up to the next newline (`.truncate`). Either way the buffered
/// partial line never grows past `limit`.
struct LineSplitter {
    enum Overflow { case fail, truncate }

    let limit: Int
    let overflow: Overflow
    private var pending: [UInt8] = []
    private var skipping = false

    init(limit: Int, overflow: Overflow) {
        self.limit = max(1, limit)
        self.overflow = overflow
    }

    /// Calls `emit` for every line completed by `bytes` and keeps the unfinished rest. Returns false
    /// when a line went over the limit under `.fail`; the splitter must not be fed again after that.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: ([UInt8]) -> Void) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var start = 0
        while start < bytes.count {
            guard let newline = memchr(base + start, 0x0A, bytes.count - start) else {
                return keep(UnsafeRawBufferPointer(rebasing: bytes[start...]), emit)
            }
            let end = base.distance(to: UnsafeRawPointer(newline))
            let piece = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            start = end + 1
            if skipping {
                skipping = false
                continue
            }
            if pending.count + piece.count > limit {
                guard overflow == .truncate else { return false }
                pending.append(contentsOf: piece.prefix(limit - pending.count))
                emit(takePending())
                continue
            }
            var line: [UInt8]
            if pending.isEmpty {
                line = Array(piece)
            } else {
                pending.append(contentsOf: piece)
                line = takePending()
            }
            if line.last == 0x0D { line.removeLast() }
            emit(line)
        }
        return true
    }

    /// End of stream: an unfinished last line is still a line.
    mutating func finish(_ emit: ([UInt8]) -> Void) {
        defer { skipping = false }
        guard !pending.isEmpty, !skipping else { return }
        var line = takePending()
        if line.last == 0x0D { line.removeLast() }
        emit(line)
    }

    private mutating func keep(_ rest: UnsafeRawBufferPointer, _ emit: ([UInt8]) -> Void) -> Bool {
        if skipping { return true }
        guard pending.count + rest.count > limit else {
            pending.append(contentsOf: rest)
            return true
        }
        guard overflow == .truncate else { return false }
        pending.append(contentsOf: rest.prefix(limit - pending.count))
        emit(takePending())
        skipping = true
        return true
    }

    private mutating func takePending() -> [UInt8] {
        let line = pending
        pending = []
        return line
    }
}
