import Testing
import TestSupport
@testable import Net

@Suite struct PerMessageDeflateTests: WebSocketTestSupport {
    private func compress(_ deflate: PerMessageDeflate, _ message: [UInt8]) -> [UInt8] {
        message.withUnsafeBytes { deflate.compress($0) }
    }

    private func decompress(_ deflate: PerMessageDeflate, _ payload: [UInt8], maxBytes: Int = 1 << 20) throws -> [UInt8] {
        try payload.withUnsafeBytes { try deflate.decompress($0, maxBytes: maxBytes) }
    }

    private func decompressionCloseCode(_ deflate: PerMessageDeflate, _ payload: [UInt8], maxBytes: Int = 1 << 20) -> UInt16? {
        do {
            _ = try decompress(deflate, payload, maxBytes: maxBytes)
            return nil
        } catch let error as WebSocketError {
            return error.closeCode
        } catch {
            return 0
        }
    }

    private static let sampleMessages: [[UInt8]] = [
        Array("Hello".utf8), [], Array(String(repeating: "repetitive text ", count: 500).utf8),
        Array("Hello".utf8), Array((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }),
    ]

    @Test(arguments: [false, true])
    func roundTripsEveryMessageInBothDirections(noContextTakeover: Bool) throws {
        let options = PerMessageDeflateOptions(serverNoContextTakeover: noContextTakeover, clientNoContextTakeover: noContextTakeover)
        let server = PerMessageDeflate(options: options, role: .server)
        let client = PerMessageDeflate(options: options, role: .client)
        for message in Self.sampleMessages + Self.sampleMessages {
            #expect(try decompress(client, compress(server, message)) == message)
            #expect(try decompress(server, compress(client, message)) == message)
        }
    }

    @Test func contextTakeoverShrinksARepeatedMessage() {
        let message = Array("a message that is long enough to be found again in the window".utf8)
        let keeping = PerMessageDeflate(options: .init(), role: .server)
        let first = compress(keeping, message)
        #expect(compress(keeping, message).count < first.count)
        let forgetting = PerMessageDeflate(options: .init(serverNoContextTakeover: true), role: .server)
        #expect(compress(forgetting, message) == first)
        #expect(compress(forgetting, message) == first)
    }

    @Test func messagesWithoutContextTakeoverInflateOnTheirOwn() throws {
        let server = PerMessageDeflate(options: .init(serverNoContextTakeover: true), role: .server)
        var rng = SplitMix64(state: 13)
        // Sizes around the per-message window choices (9 to 15 bits).
        let sized = [1, 249, 250, 251, 300, 763, 1000, 33_000, 100_000].map { size in
            (0..<size).map { _ in UInt8.random(in: 0x61...0x68, using: &rng) }
        }
        for message in Self.sampleMessages + sized {
            let fresh = PerMessageDeflate(options: .init(), role: .client)
            #expect(try decompress(fresh, compress(server, message)) == message)
        }
    }

    @Test func idleConnectionsHoldNoZlibState() throws {
        let options = PerMessageDeflateOptions(serverNoContextTakeover: true, clientNoContextTakeover: true)
        let deflate = PerMessageDeflate(options: options, role: .server)
        #expect(!deflate.holdsZlibState)
        let compressed = compress(deflate, Array("some text some text".utf8))
        #expect(!deflate.holdsZlibState)
        _ = try decompress(deflate, compressed)
        #expect(!deflate.holdsZlibState)
        #expect(decompressionCloseCode(deflate, [0xFF, 0xFF, 0xFF]) == 1007)
        #expect(!deflate.holdsZlibState)
        let keeping = PerMessageDeflate(options: .init(), role: .server)
        _ = compress(keeping, [1, 2, 3])
        #expect(keeping.holdsZlibState)
    }

    @Test func matchesTheExamplesOfRFC7692() throws {
        // §7.2.3.1, §7.2.3.2 and §7.2.3.6.
        let client = PerMessageDeflate(options: .init(), role: .client)
        #expect(try decompress(client, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Array("Hello".utf8))
        #expect(try decompress(client, [0xF2, 0x00, 0x11, 0x00, 0x00]) == Array("Hello".utf8))
        #expect(try decompress(client, [0x00]) == [])
        let server = PerMessageDeflate(options: .init(), role: .server)
        #expect(compress(server, []) == [0x00])
        // A final block (BFINAL set) is allowed too, §7.2.3.4.
        #expect(try decompress(client, [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Array("Hello".utf8))
    }

    @Test func rejectsACompressionBombWith1009WithoutInflatingIt() throws {
        // 100 MB of zeros: 1 MB pieces compressed with context takeover, joined with the markers that
        // compress() strips, make one message of about 100 KB.
        let sender = PerMessageDeflate(options: .init(), role: .client)
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        var bomb: [UInt8] = []
        for piece in 0..<100 {
            if piece > 0 { bomb += [0x00, 0x00, 0xFF, 0xFF] }
            bomb += compress(sender, zeros)
        }
        #expect(bomb.count < 200_000)
        let receiver = PerMessageDeflate(options: .init(), role: .server)
        let clock = ContinuousClock()
        let started = clock.now
        #expect(decompressionCloseCode(receiver, bomb, maxBytes: 1 << 20) == 1009)
        // Stopping at the limit means inflating about 1 MB, not 100 MB.
        #expect(clock.now - started < .seconds(2))
        #expect(!receiver.holdsZlibState)
        // The same bomb as a WebSocket message.
        let deflate = PerMessageDeflate(options: .init(), role: .server)
        #expect(closeCode(frame(.binary, bomb, rsv1: true), maxMessageBytes: 1 << 20, deflate: deflate) == 1009)
    }

    @Test func allowsAMessageOfExactlyTheLimit() throws {
        let message = [UInt8](repeating: 0x41, count: 1000)
        let server = PerMessageDeflate(options: .init(), role: .server)
        let compressed = compress(PerMessageDeflate(options: .init(), role: .client), message)
        #expect(try decompress(server, compressed, maxBytes: 1000) == message)
        #expect(decompressionCloseCode(PerMessageDeflate(options: .init(), role: .server), compressed, maxBytes: 999) == 1009)
    }

    @Test func inflatesMessagesThatFillTheOutputBufferExactly() throws {
        var rng = SplitMix64(state: 11)
        // The output buffer starts at 256 bytes and doubles, so sizes around those boundaries matter.
        for size in Array(250...260) + Array(508...516) + Array(1020...1030) + Array(2044...2052) {
            let runs = [UInt8](repeating: 0x41, count: size)
            let mixed = (0..<size).map { _ in UInt8.random(in: 0x61...0x63, using: &rng) }
            for message in [runs, mixed] {
                let compressed = compress(PerMessageDeflate(options: .init(), role: .client), message)
                let receiver = PerMessageDeflate(options: .init(), role: .server)
                #expect(try decompress(receiver, compressed, maxBytes: size) == message, "size \(size)")
            }
        }
    }

    @Test func rejectsCorruptOrTruncatedDataWith1007() {
        let deflate = PerMessageDeflate(options: .init(), role: .server)
        #expect(decompressionCloseCode(deflate, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == 1007)
        #expect(decompressionCloseCode(deflate, [0x07, 0x00]) == 1007)   // reserved block type 3
        let message = Array(String(repeating: "truncate me please ", count: 50).utf8)
        let compressed = compress(PerMessageDeflate(options: .init(), role: .client), message)
        #expect(decompressionCloseCode(deflate, Array(compressed.prefix(compressed.count / 2))) == 1007)
        // A distance reaching before the start of the window.
        #expect(decompressionCloseCode(deflate, [0xF2, 0x00, 0x11, 0x00, 0x00]) == 1007)
    }

    @Test func mutatedDeflateDataInflatesOrFailsCleanly() {
        var rng = SplitMix64(state: 5)
        let message = Array(String(repeating: "some compressible text with € in it ", count: 40).utf8)
        let compressed = compress(PerMessageDeflate(options: .init(), role: .client), message)
        for _ in 0..<2000 {
            var corrupt = compressed
            corrupt[Int.random(in: 0..<corrupt.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            let code = decompressionCloseCode(PerMessageDeflate(options: .init(), role: .server), corrupt, maxBytes: 10_000)
            #expect(code == nil || code == 1007 || code == 1009)
        }
    }

    @Test func decoderInflatesCompressedMessagesWholeAndFragmented() throws {
        let sender = PerMessageDeflate(options: .init(), role: .client)
        let text = Array(String(repeating: "compressed € text ", count: 30).utf8)
        let whole = compress(sender, text)
        let fragmented = compress(sender, text)
        let cut = fragmented.count / 2
        let bytes = frame(.text, whole, rsv1: true) + frame(.binary, Array(fragmented[..<cut]), fin: false, rsv1: true)
            + frame(.ping, [1]) + frame(.continuation, Array(fragmented[cut...])) + frame(.binary, [5, 6])
        let receiver = PerMessageDeflate(options: .init(), role: .server)
        #expect(try decode(bytes, deflate: receiver) == [
            .message(.text, text), .ping([1]), .message(.binary, text), .message(.binary, [5, 6]),
        ])
    }

    @Test func decoderRejectsMisplacedRSV1AndBadInflatedMessages() {
        let deflate = { PerMessageDeflate(options: .init(), role: .server) }
        let sender = PerMessageDeflate(options: .init(serverNoContextTakeover: true, clientNoContextTakeover: true), role: .client)
        let payload = compress(sender, Array("hello".utf8))
        #expect(closeCode(frame(.ping, [], rsv1: true), deflate: deflate()) == 1002)
        #expect(closeCode(frame(.text, payload, fin: false, rsv1: true) + frame(.continuation, [], rsv1: true),
                          deflate: deflate()) == 1002)
        #expect(closeCode(frame(.text, compress(sender, [0x61, 0xFF]), rsv1: true), deflate: deflate()) == 1007)
        #expect(closeCode(frame(.binary, [0xFF, 0xFF], rsv1: true), deflate: deflate()) == 1007)
        let big = compress(sender, [UInt8](repeating: 0, count: 101))
        #expect(closeCode(frame(.binary, big, rsv1: true), maxMessageBytes: 100, deflate: deflate()) == 1009)
        #expect(closeCode(frame(.binary, big, rsv1: true), maxMessageBytes: 101, deflate: deflate()) == nil)
    }

    @Test func acceptsTheDefaultOffersOfPythonWebsocketsAndChrome() throws {
        let result = try #require(PerMessageDeflateOptions.negotiate(offers: ["permessage-deflate; client_max_window_bits"]))
        #expect(result.options == PerMessageDeflateOptions())
        #expect(result.response == "permessage-deflate")
        #expect(PerMessageDeflateOptions.negotiate(offers: ["permessage-deflate"])?.response == "permessage-deflate")
    }

    @Test func acceptsAndEchoesOfferedParameters() throws {
        let offer = "permessage-deflate;server_no_context_takeover; client_no_context_takeover ;"
            + " server_max_window_bits=10; client_max_window_bits=\"12\""
        let result = try #require(PerMessageDeflateOptions.negotiate(offers: [offer]))
        #expect(result.options == PerMessageDeflateOptions(serverNoContextTakeover: true, clientNoContextTakeover: true,
                                                           serverMaxWindowBits: 10, clientMaxWindowBits: 12))
        #expect(result.response == "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
            + " server_max_window_bits=10; client_max_window_bits=12")
    }

    @Test(arguments: [
        "permessage-deflate; server_max_window_bits=7", "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=abc", "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=09", "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=", "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=+9", "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; unknown_param", "permessage-deflate; ; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=\"10", "x-webkit-deflate-frame", "",
    ])
    func declinesInvalidOffers(offer: String) {
        #expect(PerMessageDeflateOptions.negotiate(offers: [offer]) == nil)
    }

    @Test func takesTheFirstAcceptableOfferAndIgnoresOtherExtensions() throws {
        let sameHeader = PerMessageDeflateOptions.negotiate(offers: [
            "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=11, permessage-deflate",
        ])
        #expect(sameHeader?.options.serverMaxWindowBits == 11)
        let acrossHeaders = PerMessageDeflateOptions.negotiate(offers: [
            "permessage-deflate; foo=bar", "permessage-deflate; server_no_context_takeover",
        ])
        #expect(acrossHeaders?.options == PerMessageDeflateOptions(serverNoContextTakeover: true))
        #expect(acrossHeaders?.response == "permessage-deflate; server_no_context_takeover")
    }

    @Test func clientOffersAndValidatesTheServersResponse() throws {
        #expect(PerMessageDeflateOptions.clientOffer() == "permessage-deflate; client_max_window_bits")
        #expect(PerMessageDeflateOptions.clientOffer(clientNoContextTakeover: true, serverNoContextTakeover: true)
            == "permessage-deflate; client_max_window_bits; client_no_context_takeover; server_no_context_takeover")
        #expect(try PerMessageDeflateOptions.acceptServerResponse("permessage-deflate") == PerMessageDeflateOptions())
        #expect(try PerMessageDeflateOptions.acceptServerResponse(
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=9; server_max_window_bits=8")
            == PerMessageDeflateOptions(serverNoContextTakeover: true, serverMaxWindowBits: 8, clientMaxWindowBits: 9))
        for bad in ["permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits=8",
                    "permessage-deflate; server_max_window_bits=16", "permessage-deflate; mystery",
                    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                    "x-other", "permessage-deflate, permessage-deflate", ""] {
            #expect(throws: WebSocketError.self, "\(bad)") { try PerMessageDeflateOptions.acceptServerResponse(bad) }
        }
    }

    @Test func negotiatedSmallWindowsRoundTrip() throws {
        let offer = PerMessageDeflateOptions.clientOffer(serverNoContextTakeover: true) + "; server_max_window_bits=9"
        let negotiated = try #require(PerMessageDeflateOptions.negotiate(offers: [offer]))
        let clientOptions = try PerMessageDeflateOptions.acceptServerResponse(negotiated.response)
        #expect(clientOptions == negotiated.options)
        let server = PerMessageDeflate(options: negotiated.options, role: .server)
        let client = PerMessageDeflate(options: clientOptions, role: .client)
        // An 8-bit window is fine for receiving: zlib only refuses to deflate with one.
        let narrow = PerMessageDeflate(options: .init(clientMaxWindowBits: 8), role: .server)
        #expect(try decompress(narrow, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Array("Hello".utf8))
        var rng = SplitMix64(state: 3)
        for _ in 0..<5 {
            let message = (0..<4000).map { _ in UInt8.random(in: 0x61...0x64, using: &rng) }
            #expect(try decompress(client, compress(server, message)) == message)
            #expect(try decompress(server, compress(client, message)) == message)
        }
    }
}
