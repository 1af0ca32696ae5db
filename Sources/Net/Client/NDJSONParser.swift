/// An incremental splitter for newline-delimited JSON (`application/x-ndjson`, as Ollama streams).
///
/// Emits each non-blank line without its LF or CRLF; it does not parse the JSON, so callers decode
/// with whatever they already use. A line is handed out straight from the chunk when it lies wholly
/// inside it, and copied only when it straddles chunks. Memory is bounded by `maxLineBytes`.
public struct NDJSONParser {
    /// The most bytes one line may hold before the stream is dropped.
    public let maxLineBytes: Int
    private var pending: [UInt8] = []

    public init(maxLineBytes: Int = 16 << 20) {
        self.maxLineBytes = maxLineBytes
    }

    /// Parses one chunk, calling `emit` with each complete line. The buffer is valid only during the
    /// call. After a throw the stream is unusable: drop it.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (UnsafeRawBufferPointer) -> Void) throws(StreamParserError) {
        var start = 0
        while let newline = bytes[start...].firstIndex(of: 0x0A) {
            let piece = UnsafeRawBufferPointer(rebasing: bytes[start..<newline])
            if pending.isEmpty {
                NDJSONParser.emitLine(piece, emit)
            } else {
                pending.append(contentsOf: piece)
                if pending.count > maxLineBytes { throw .lineTooLarge(limit: maxLineBytes) }
                pending.withUnsafeBytes { NDJSONParser.emitLine($0, emit) }
                pending.removeAll(keepingCapacity: pending.capacity <= 64 * 1024)
            }
            start = newline + 1
        }
        if start < bytes.count {
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
        }
        if pending.count > maxLineBytes { throw .lineTooLarge(limit: maxLineBytes) }
    }

    /// Ends the stream: a last line without a newline is still a line.
    public mutating func finish(_ emit: (UnsafeRawBufferPointer) -> Void) {
        pending.withUnsafeBytes { NDJSONParser.emitLine($0, emit) }
        pending.removeAll()
    }

    private static func emitLine(_ raw: UnsafeRawBufferPointer, _ emit: (UnsafeRawBufferPointer) -> Void) {
        var end = raw.count
        if end > 0 && raw[end - 1] == 0x0D { end -= 1 }
        let line = UnsafeRawBufferPointer(rebasing: raw[..<end])
        // Blank lines (keep-alives, a trailing CRLF) carry no JSON value.
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        emit(line)
    }
}
