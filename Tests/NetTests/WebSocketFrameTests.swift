import Testing
import TestSupport
@testable import Net

/// An event copied out of the callback, whose buffers die with it, so tests can compare events.
enum RecordedWebSocketEvent: Equatable {
    case message(WebSocketMessageKind, [UInt8])
    case ping([UInt8])
    case pong([UInt8])
    case close(UInt16?, String)

    init(_ event: WebSocketEvent) {
        switch event {
        case .message(let kind, let bytes): self = .message(kind, Array(bytes))
        case .ping(let bytes): self = .ping(Array(bytes))
        case .pong(let bytes): self = .pong(Array(bytes))
        case .close(let code, let reason): self = .close(code, reason)
        }
    }
}

/// Helpers shared by the WebSocket suites; a protocol extension keeps their short names out of the module's
/// global scope, where other test files live too.
protocol WebSocketTestSupport {}

extension WebSocketTestSupport {
    /// A frame as a peer in `role`'s opposite would send it: masked towards a server, unmasked towards a client.
    func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false,
               to role: WebSocketRole = .server) -> [UInt8] {
        payload.withUnsafeBytes {
            WebSocketFrame.encode(opcode: opcode, payload: $0, fin: fin, rsv1: rsv1, maskKey: role == .server ? 0xA1B2_C3D4 : nil)
        }
    }

    /// Plays the caller: appends each chunk to the bytes it kept, decodes, and drops what was consumed.
    func decode<Chunk: Collection<UInt8>>(
        _ chunks: [Chunk], with decoder: inout WebSocketFrameDecoder
    ) throws -> (events: [RecordedWebSocketEvent], left: [UInt8]) {
        var pending: [UInt8] = []
        var events: [RecordedWebSocketEvent] = []
        for chunk in chunks {
            pending += chunk
            let consumed = try pending.withUnsafeMutableBytes { raw in
                try decoder.decode(raw) { events.append(RecordedWebSocketEvent($0)) }
            }
            pending.removeFirst(consumed)
        }
        return (events, pending)
    }

    func decode(_ bytes: [UInt8], role: WebSocketRole = .server, maxMessageBytes: Int = 1 << 20,
                deflate: PerMessageDeflate? = nil) throws -> [RecordedWebSocketEvent] {
        var decoder = WebSocketFrameDecoder(role: role, maxMessageBytes: maxMessageBytes, deflate: deflate)
        return try decode([bytes], with: &decoder).events
    }

    /// The close code the decoder fails with, or nil when it does not fail.
    func closeCode(_ bytes: [UInt8], role: WebSocketRole = .server, maxMessageBytes: Int = 1 << 20,
                   deflate: PerMessageDeflate? = nil) -> UInt16? {
        do {
            _ = try decode(bytes, role: role, maxMessageBytes: maxMessageBytes, deflate: deflate)
            return nil
        } catch let error as WebSocketError {
            return error.closeCode
        } catch {
            return 0
        }
    }

    func randomBytes(_ count: Int, _ rng: inout SplitMix64) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }
}

@Suite struct WebSocketFrameTests: WebSocketTestSupport {
    @Test func headerUsesTheShortestLengthFormAtEachBoundary() {
        for (length, size) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (1 << 40, 10)] {
            var out: [UInt8] = []
            WebSocketFrame.appendHeader(to: &out, fin: true, rsv1: false, opcode: .binary, length: length, maskKey: nil)
            #expect(out.count == size, "length \(length)")
            var masked: [UInt8] = []
            WebSocketFrame.appendHeader(to: &masked, fin: true, rsv1: false, opcode: .binary, length: length, maskKey: 1)
            #expect(masked.count == size + 4)
        }
        var out: [UInt8] = []
        WebSocketFrame.appendHeader(to: &out, fin: false, rsv1: true, opcode: .text, length: 126, maskKey: 0x0102_0304)
        #expect(out == [0x41, 0xFE, 0x00, 0x7E, 0x01, 0x02, 0x03, 0x04])
        out = []
        WebSocketFrame.appendHeader(to: &out, fin: true, rsv1: false, opcode: .pong, length: 65536, maskKey: nil)
        #expect(out == [0x8A, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
    }

    @Test func decodesPayloadsOfEveryLengthFormIntactInBothRoles() throws {
        var rng = SplitMix64(state: 1)
        for role in [WebSocketRole.server, .client] {
            for length in [0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 70001] {
                let payload = randomBytes(length, &rng)
                let events = try decode(frame(.binary, payload, to: role), role: role)
                #expect(events == [.message(.binary, payload)], "length \(length)")
            }
        }
    }

    @Test func maskKeyGoesOnTheWireMostSignificantByteFirst() {
        let zeros = [UInt8](repeating: 0, count: 10)
        let wire = zeros.withUnsafeBytes { WebSocketFrame.encode(opcode: .binary, payload: $0, maskKey: 0x0102_0304) }
        #expect(Array(wire[2..<6]) == [1, 2, 3, 4])
        #expect(Array(wire[6...]) == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2])
    }

    @Test func maskingInPiecesEqualsMaskingWhole() {
        var rng = SplitMix64(state: 2)
        let key: UInt32 = 0x37FA_213D
        for length in [0, 1, 3, 8, 13, 64, 1001] {
            let original = randomBytes(length, &rng)
            // Reference: the byte-at-a-time definition from RFC 6455 §5.3.
            let expected = original.enumerated().map { $0.element ^ UInt8(truncatingIfNeeded: key >> (24 - 8 * ($0.offset % 4))) }
            var whole = original
            whole.withUnsafeMutableBytes { WebSocketFrame.applyMask($0, key: key) }
            #expect(whole == expected)
            for _ in 0..<20 {
                var pieces = original
                var cuts = (0..<3).map { _ in Int.random(in: 0...length, using: &rng) }.sorted()
                cuts = [0] + cuts + [length]
                pieces.withUnsafeMutableBytes { raw in
                    for (start, end) in zip(cuts, cuts.dropFirst()) {
                        WebSocketFrame.applyMask(UnsafeMutableRawBufferPointer(rebasing: raw[start..<end]), key: key, phase: start)
                    }
                }
                #expect(pieces == expected, "cuts \(cuts)")
            }
            whole.withUnsafeMutableBytes { WebSocketFrame.applyMask($0, key: key) }
            #expect(whole == original)
        }
    }

    @Test func closePayloadTruncatesTheReasonOnACharacterBoundary() {
        #expect(WebSocketFrame.closePayload(code: 1000, reason: "bye") == [0x03, 0xE8] + Array("bye".utf8))
        let payload = WebSocketFrame.closePayload(code: 1001, reason: String(repeating: "é", count: 100))
        #expect(payload.count == 124)
        #expect(payload.withUnsafeBytes { UTF8Validator.isValid(UnsafeRawBufferPointer(rebasing: $0[2...])) })
        let ascii = WebSocketFrame.closePayload(code: 1001, reason: String(repeating: "a", count: 200))
        #expect(ascii.count == 125)
        let error = WebSocketError.protocolError(String(repeating: "€", count: 60))
        #expect(error.closeCode == 1002 && error.reason.utf8.count == 123)
    }

    @Test func onlyCodesAPeerMaySendAreValidCloseCodes() {
        for code: UInt16 in [1000, 1001, 1002, 1003, 1007, 1010, 1011, 1014, 3000, 4999] {
            #expect(WebSocketFrame.isValidCloseCode(code), "\(code)")
        }
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            #expect(!WebSocketFrame.isValidCloseCode(code), "\(code)")
        }
    }

    @Test func opcodesKnowWhichAreControlFrames() {
        #expect(WebSocketOpcode.close.isControl && WebSocketOpcode.ping.isControl && WebSocketOpcode.pong.isControl)
        #expect(!WebSocketOpcode.text.isControl && !WebSocketOpcode.binary.isControl && !WebSocketOpcode.continuation.isControl)
    }

    @Test func closesWith1002FromTheFirstByteAloneWhenItBreaksTheRules() {
        #expect(closeCode([0xA2]) == 1002)    // RSV2
        #expect(closeCode([0xC2]) == 1002)    // RSV1 without permessage-deflate
        #expect(closeCode([0x83]) == 1002)    // unknown opcode
        #expect(closeCode([0x09]) == 1002)    // fragmented ping
        #expect(closeCode([0x80]) == 1002)    // continuation without a message
        #expect(closeCode([0x82]) == nil)
    }

    @Test func closesWith1002WhenClientFrameIsUnmaskedFromTheHeaderAlone() {
        #expect(closeCode([0x81, 0x05]) == 1002)
    }

    @Test func closesWith1002WhenServerFrameIsMaskedFromTheHeaderAlone() {
        #expect(closeCode([0x81, 0x85], role: .client) == 1002)
    }

    @Test func closesWith1002OnReservedBits() {
        #expect(closeCode([0xA1, 0x80]) == 1002)          // RSV2
        #expect(closeCode([0x91, 0x80]) == 1002)          // RSV3
        #expect(closeCode([0xC1, 0x80]) == 1002)          // RSV1 without permessage-deflate
    }

    @Test(arguments: [3, 4, 5, 6, 7, 11, 12, 13, 14, 15] as [UInt8])
    func closesWith1002OnUnknownOpcodes(opcode: UInt8) {
        #expect(closeCode([0x80 | opcode, 0x80]) == 1002)
    }

    @Test func closesWith1002OnOversizedOrFragmentedControlFrames() {
        #expect(closeCode([0x89, 0xFE]) == 1002)                                  // ping claiming 126+ bytes
        #expect(closeCode([0x8A, 0xFF]) == 1002)                                  // pong claiming a 64-bit length
        #expect(closeCode(frame(.ping, [1, 2], fin: false)) == 1002)
        #expect(closeCode(frame(.close, [], fin: false)) == 1002)
        #expect(closeCode(frame(.ping, [UInt8](repeating: 0, count: 125))) == nil)
    }

    @Test func closesWith1002OnOutOfOrderFragments() {
        #expect(closeCode(frame(.continuation, [1])) == 1002)
        #expect(closeCode(frame(.text, [0x61], fin: false) + frame(.binary, [1])) == 1002)
        #expect(closeCode(frame(.text, [0x61], fin: false) + frame(.text, [0x62], fin: false)) == 1002)
        // Detected from the offending header even before its payload arrives.
        #expect(closeCode(frame(.binary, [1], fin: false) + [0x82, 0x85]) == 1002)
    }

    @Test func closesWith1002OnA64BitLengthWithTheTopBitSetFromTheHeaderAlone() {
        #expect(closeCode([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1]) == 1002)
    }

    @Test func closesWith1009FromTheHeaderAloneWhenAFrameIsTooBig() {
        #expect(closeCode([0x82, 0xFE, 0x01, 0x00], maxMessageBytes: 255) == 1009)
        #expect(closeCode([0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0], maxMessageBytes: 1 << 20) == 1009)
        #expect(closeCode([0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == 1009)
        #expect(closeCode([0x82, 0x8B], maxMessageBytes: 10) == 1009)
        #expect(closeCode(frame(.binary, [UInt8](repeating: 1, count: 10)), maxMessageBytes: 10) == nil)
    }

    @Test func closesWith1009FromTheHeaderAloneWhenFragmentsAddUpTooBig() {
        let first = frame(.binary, [UInt8](repeating: 1, count: 60), fin: false)
        #expect(closeCode(first + [0x80, 0x80 | 41], maxMessageBytes: 100) == 1009)
        #expect(closeCode(first + frame(.continuation, [UInt8](repeating: 1, count: 40)), maxMessageBytes: 100) == nil)
    }

    @Test func closeFramesAreValidated() throws {
        #expect(try decode(frame(.close, [])) == [.close(nil, "")])
        #expect(try decode(frame(.close, WebSocketFrame.closePayload(code: 1000, reason: "done"))) == [.close(1000, "done")])
        #expect(try decode(frame(.close, WebSocketFrame.closePayload(code: 4321, reason: "")))  == [.close(4321, "")])
        #expect(closeCode(frame(.close, [0x03])) == 1002)
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 2000, 5000] {
            #expect(closeCode(frame(.close, WebSocketFrame.closePayload(code: code, reason: ""))) == 1002, "\(code)")
        }
        #expect(closeCode(frame(.close, [0x03, 0xE8, 0xCE, 0xBA, 0xE1, 0xBD])) == 1007)
    }

    @Test func closesWith1007OnInvalidUTF8InAnUnfragmentedTextMessage() {
        #expect(closeCode(frame(.text, [0x61, 0xC0, 0xAF])) == 1007)
        #expect(closeCode(frame(.text, [0x61, 0xE2, 0x82])) == 1007)
        #expect(closeCode(frame(.binary, [0x61, 0xC0, 0xAF])) == nil)
    }

    @Test func closesWith1007AsSoonAsAFragmentIsInvalidUTF8() {
        // The final fragment never arrives: the first one alone must fail the connection.
        #expect(closeCode(frame(.text, [0x61, 0xED, 0xA0, 0x80], fin: false)) == 1007)
        #expect(closeCode(frame(.text, [0xE2, 0x82], fin: false) + frame(.continuation, [0x41], fin: false)) == 1007)
    }

    @Test func closesWith1007WhenATextMessageEndsMidSequence() {
        #expect(closeCode(frame(.text, [0x61, 0xE2], fin: false) + frame(.continuation, [0x82])) == 1007)
    }

    @Test func reassemblesFragmentsAroundInterleavedControlFrames() throws {
        var decoder = WebSocketFrameDecoder(role: .server, maxMessageBytes: 100)
        let first = try decode([frame(.text, Array("Hel".utf8), fin: false), frame(.ping, [7])], with: &decoder)
        #expect(first.events == [.ping([7])])
        #expect(decoder.isInsideMessage)
        let rest = try decode([frame(.continuation, Array("lo".utf8), fin: false), frame(.pong, []),
                               frame(.continuation, Array(" €!".utf8))], with: &decoder)
        #expect(rest.events == [.pong([]), .message(.text, Array("Hello €!".utf8))])
        #expect(!decoder.isInsideMessage)
    }

    @Test func leavesAPartialFrameUnconsumedAndUntouched() throws {
        let whole = frame(.text, Array("hello world".utf8))
        for cut in 0..<whole.count {
            var partial = Array(whole[..<cut])
            var decoder = WebSocketFrameDecoder(role: .server, maxMessageBytes: 100)
            let consumed = try partial.withUnsafeMutableBytes { raw in
                try decoder.decode(raw) { _ in Issue.record("no event expected") }
            }
            #expect(consumed == 0)
            #expect(partial == Array(whole[..<cut]))
        }
    }

    @Test func stopsDecodingRightAfterACloseFrame() throws {
        let close = frame(.close, WebSocketFrame.closePayload(code: 1000, reason: ""))
        var decoder = WebSocketFrameDecoder(role: .server, maxMessageBytes: 100)
        let result = try decode([close + frame(.text, [0x61])], with: &decoder)
        #expect(result.events == [.close(1000, "")])
        #expect(result.left.count == 7)
    }

    @Test func reportsAnUnfragmentedMessageInPlaceWithoutCopying() throws {
        var bytes = frame(.binary, [1, 2, 3, 4, 5])
        var decoder = WebSocketFrameDecoder(role: .server, maxMessageBytes: 100)
        try bytes.withUnsafeMutableBytes { raw in
            _ = try decoder.decode(raw) { event in
                guard case .message(_, let payload) = event else { Issue.record("expected a message"); return }
                #expect(payload.baseAddress == UnsafeRawPointer(raw.baseAddress! + 6))
                #expect(Array(payload) == [1, 2, 3, 4, 5])
            }
        }
    }

    @Test(arguments: [WebSocketRole.server, .client])
    func givesTheSameEventsWholeByteByByteAndInRandomSplits(role: WebSocketRole) throws {
        var rng = SplitMix64(state: 42)
        var stream: [UInt8] = []
        var expected: [RecordedWebSocketEvent] = []
        for _ in 0..<300 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<4:
                let payload = randomBytes([0, 5, 125, 126, 300, 65536].randomElement(using: &rng)!, &rng)
                stream += frame(.binary, payload, to: role)
                expected.append(.message(.binary, payload))
            case 4..<6:
                let text = Array(String(repeating: "aé€𝄞", count: Int.random(in: 0...40, using: &rng)).utf8)
                stream += frame(.text, text, to: role)
                expected.append(.message(.text, text))
            case 6:
                let ping = randomBytes(Int.random(in: 0...125, using: &rng), &rng)
                stream += frame(.ping, ping, to: role)
                expected.append(.ping(ping))
            default:
                // A fragmented text message with a pong interleaved, cut inside multi-byte characters.
                let text = Array("fragmented €𝄞 message".utf8)
                let cut = Int.random(in: 0...text.count, using: &rng)
                stream += frame(.text, Array(text[..<cut]), fin: false, to: role)
                stream += frame(.pong, [9], to: role)
                stream += frame(.continuation, Array(text[cut...]), to: role)
                expected += [.pong([9]), .message(.text, text)]
            }
        }
        stream += frame(.close, WebSocketFrame.closePayload(code: 1000, reason: "end"), to: role)
        expected.append(.close(1000, "end"))

        var splits: [[ArraySlice<UInt8>]] = [[stream[...]], stream.indices.map { stream[$0...$0] }]
        for _ in 0..<5 {
            var chunks: [ArraySlice<UInt8>] = []
            var start = 0
            while start < stream.count {
                let end = min(stream.count, start + Int.random(in: 1...3000, using: &rng))
                chunks.append(stream[start..<end])
                start = end
            }
            splits.append(chunks)
        }
        for chunks in splits {
            var decoder = WebSocketFrameDecoder(role: role, maxMessageBytes: 1 << 20)
            let result = try decode(chunks, with: &decoder)
            #expect(result.events == expected, "\(chunks.count) chunks")
            #expect(result.left.isEmpty)
        }
    }

    @Test func failsOnlyWithAWebSocketErrorOnMutatedInput() {
        var rng = SplitMix64(state: 99)
        let deflate = PerMessageDeflate(options: .init(), role: .client)
        let compressed = Array("compressed text".utf8).withUnsafeBytes { deflate.compress($0) }
        let valid = frame(.text, Array("hello €".utf8), fin: false) + frame(.ping, [1, 2])
            + frame(.continuation, Array("world".utf8)) + frame(.binary, randomBytes(300, &rng))
            + frame(.text, compressed, rsv1: true) + frame(.close, WebSocketFrame.closePayload(code: 1000, reason: "x"))
        for _ in 0..<3000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let cut = Int.random(in: 0...bytes.count, using: &rng)
            var decoder = WebSocketFrameDecoder(role: .server, maxMessageBytes: 1000,
                                                deflate: PerMessageDeflate(options: .init(), role: .server))
            do {
                _ = try decode([bytes[..<cut], bytes[cut...]], with: &decoder)
            } catch is WebSocketError {
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }
}
