import TestSupport
import Testing
@testable import Net

/// The SSE parser against the WHATWG event-stream rules, and the NDJSON splitter; every input is fed
/// whole, byte by byte and in many seeded random splits, and must give the same result each way.
@Suite struct StreamParserTests {
    @Test func theSpecStockTickerExampleJoinsDataLinesWithNewlines() throws {
        try expectEvents("data: YHOO\ndata: +2\ndata: 10\n\n", [ServerSentEvent(data: "YHOO\n+2\n10")])
    }

    @Test func theSpecIDExampleKeepsTheLastEventIDAcrossEvents() throws {
        let input = ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"
        try expectEvents(input, [
            ServerSentEvent(data: "first event", id: "1"),
            ServerSentEvent(data: "second event", id: ""),
            ServerSentEvent(data: " third event", id: ""),
        ])
    }

    @Test func theSpecEmptyDataExampleDispatchesEmptyEventsAndDropsTheUnfinishedOne() throws {
        try expectEvents("data\n\ndata\ndata\n\ndata:", [ServerSentEvent(data: ""), ServerSentEvent(data: "\n")])
    }

    @Test func theSpecSpaceExampleRemovesOnlyOneSpaceAfterTheColon() throws {
        try expectEvents("data:test\n\ndata: test\n\ndata:  two\n\n",
                         [ServerSentEvent(data: "test"), ServerSentEvent(data: "test"), ServerSentEvent(data: " two")])
    }

    @Test func crLfAndCrlfLineEndsMayBeMixed() throws {
        try expectEvents("data: a\r\rdata: b\r\n\r\ndata: c\n\ndata: d\r\ndata: e\n\r", [
            ServerSentEvent(data: "a"), ServerSentEvent(data: "b"), ServerSentEvent(data: "c"), ServerSentEvent(data: "d\ne"),
        ])
    }

    @Test func aCrAtTheEndOfOneChunkAndAnLfAtTheStartOfTheNextAreOneLineEnd() throws {
        var parser = SSEParser()
        var events: [ServerSentEvent] = []
        for chunk in ["data: a\r", "\ndata: b\r", "\n\r", "\n"] {
            try feed(&parser, Array(chunk.utf8)[...]) { events.append($0) }
        }
        #expect(events == [ServerSentEvent(data: "a\nb")])
    }

    @Test func aLeadingByteOrderMarkIsSkippedOnlyOnce() throws {
        try expectEvents("\u{FEFF}data: x\n\n", [ServerSentEvent(data: "x")])
        try expectEvents("\u{FEFF}\u{FEFF}data: x\n\ndata: y\n\n", [ServerSentEvent(data: "y")])
        try expectEvents("data: x\n\n\u{FEFF}data: y\n\n", [ServerSentEvent(data: "x")])
    }

    @Test func commentsAndUnknownFieldsAreIgnored() throws {
        try expectEvents(": hello\ndata: x\n:\nfoo: bar\nDATA: no\n: bye\n\n", [ServerSentEvent(data: "x")])
    }

    @Test func aFieldWithoutAColonHasAnEmptyValue() throws {
        try expectEvents("event\ndata\n\n", [ServerSentEvent(event: nil, data: "")])
    }

    @Test func theEventTypeAppliesToOneEventAndIsResetEvenWithoutData() throws {
        try expectEvents("event: add\ndata: 1\n\ndata: 2\n\nevent: ping\n\ndata: 3\n\n", [
            ServerSentEvent(event: "add", data: "1"), ServerSentEvent(data: "2"), ServerSentEvent(data: "3"),
        ])
    }

    @Test func retryIsTakenOnlyWhenAllDigits() throws {
        try expectEvents("retry: 3000\ndata: a\n\nretry: 3s\ndata: b\n\nretry:\ndata: c\n\nretry: -1\ndata: d\n\n", [
            ServerSentEvent(data: "a", retry: 3000), ServerSentEvent(data: "b"), ServerSentEvent(data: "c"), ServerSentEvent(data: "d"),
        ])
        var parser = SSEParser()
        try feed(&parser, Array("retry: 1500\n\n".utf8)[...]) { _ in }
        #expect(parser.reconnectionTime == 1500)
    }

    @Test func anIDContainingNulIsIgnored() throws {
        try expectEvents("id: 5\ndata: a\n\nid: b\u{0}c\ndata: b\n\nid: 6\ndata: c\n\n", [
            ServerSentEvent(data: "a", id: "5"), ServerSentEvent(data: "b", id: "5"), ServerSentEvent(data: "c", id: "6"),
        ])
    }

    @Test func openAIStyleChunksEndWithDone() throws {
        let input = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n: keep-alive\n\ndata: [DONE]\n\n"
        try expectEvents(input, [ServerSentEvent(data: "{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}"), ServerSentEvent(data: "[DONE]")])
    }

    @Test func anthropicStyleEventAndDataPairsKeepTheirTypes() throws {
        let input = """
        event: message_start\r
        data: {"type":"message_start"}\r
        \r
        event: content_block_delta\r
        data: {"type":"content_block_delta","delta":{"text":"é😀"}}\r
        \r
        event: ping\r
        data: {"type": "ping"}\r
        \r

        """
        try expectEvents(input, [
            ServerSentEvent(event: "message_start", data: #"{"type":"message_start"}"#),
            ServerSentEvent(event: "content_block_delta", data: #"{"type":"content_block_delta","delta":{"text":"é😀"}}"#),
            ServerSentEvent(event: "ping", data: #"{"type": "ping"}"#),
        ])
    }

    @Test func anUnfinishedEventIsDiscardedAtTheEnd() throws {
        try expectEvents("data: a\n\ndata: b\n", [ServerSentEvent(data: "a")])
    }

    @Test func anEventOverTheLimitDropsTheStream() {
        let lines = Array(String(repeating: "data: 0123456789\n", count: 20).utf8)
        #expect(throws: StreamParserError.eventTooLarge(limit: 100)) {
            var parser = SSEParser(maxEventBytes: 100)
            try feed(&parser, lines[...]) { _ in }
        }
        // A line that never ends is caught too, however it is split.
        #expect(throws: StreamParserError.eventTooLarge(limit: 100)) {
            var parser = SSEParser(maxEventBytes: 100)
            for _ in 0..<20 { try feed(&parser, Array("data: xxxxxxxxxx".utf8)[...]) { _ in } }
        }
    }

    // MARK: NDJSON

    @Test func ndjsonEmitsEachLineWithoutItsLineEndAndSkipsBlankOnes() throws {
        let input = Array("{\"a\":1}\n{\"b\":\"é😀\"}\r\n\n  \r\n{\"c\":3}".utf8)
        let expected = [#"{"a":1}"#, #"{"b":"é😀"}"#, #"{"c":3}"#]
        for split in splits(of: input.count) {
            var parser = NDJSONParser()
            var lines: [String] = []
            var start = 0
            for end in split {
                try feedLines(&parser, input[start..<end]) { lines.append($0) }
                start = end
            }
            parser.finish { lines.append(String(decoding: $0, as: UTF8.self)) }
            #expect(lines == expected, "split \(split)")
        }
    }

    @Test func ndjsonDropsALineOverTheLimit() {
        #expect(throws: StreamParserError.lineTooLarge(limit: 64)) {
            var parser = NDJSONParser(maxLineBytes: 64)
            for _ in 0..<10 { try feedLines(&parser, Array("0123456789".utf8)[...]) { _ in } }
        }
    }

    // MARK: Helpers

    /// Feeds `input` whole, byte by byte and in seeded random splits; each must give `expected`.
    private func expectEvents(_ input: String, _ expected: [ServerSentEvent],
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bytes = Array(input.utf8)
        for split in splits(of: bytes.count) {
            var parser = SSEParser()
            var events: [ServerSentEvent] = []
            var start = 0
            for end in split {
                try feed(&parser, bytes[start..<end]) { events.append($0) }
                start = end
            }
            parser.finish { events.append($0) }
            #expect(events == expected, "split \(split)", sourceLocation: sourceLocation)
        }
    }

    private func feed(_ parser: inout SSEParser, _ bytes: ArraySlice<UInt8>, _ emit: (ServerSentEvent) -> Void) throws {
        var failure: StreamParserError?
        bytes.withUnsafeBytes { buffer in
            do throws(StreamParserError) { try parser.feed(buffer, emit) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    private func feedLines(_ parser: inout NDJSONParser, _ bytes: ArraySlice<UInt8>, _ emit: (String) -> Void) throws {
        var failure: StreamParserError?
        bytes.withUnsafeBytes { buffer in
            do throws(StreamParserError) { try parser.feed(buffer) { emit(String(decoding: $0, as: UTF8.self)) } } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Chunk end offsets: whole, one byte at a time, then 100 random splits from fixed seeds.
    private func splits(of count: Int) -> [[Int]] {
        var result = [[count], Array(1...max(1, count))]
        for seed in 0..<100 {
            var random = SplitMix64(state: UInt64(seed))
            var ends: [Int] = []
            var offset = 0
            while offset < count {
                offset = min(count, offset + Int.random(in: 1...max(1, count / 3), using: &random))
                ends.append(offset)
            }
            result.append(ends)
        }
        return result
    }
}
