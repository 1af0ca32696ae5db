import Testing
import TestSupport
@testable import Net

@Suite struct UTF8ValidatorTests: WebSocketTestSupport {
    private func isValid(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { UTF8Validator.isValid($0) } }

    /// Feeds the pieces one after another, as fragments would arrive; true when all pass and end on a boundary.
    private func isValid(pieces: [ArraySlice<UInt8>]) -> Bool {
        var validator = UTF8Validator()
        for piece in pieces {
            guard piece.withUnsafeBytes({ validator.validate($0) }) else { return false }
        }
        return validator.isAtBoundary
    }

    static let validSamples: [String] = [
        "", "plain ascii", "héllo wörld", "€uro", "𝄞 clef", "日本語のテキスト", "mixed: a é € 𝄞 z",
        "\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}", "\u{D7FF}\u{E000}",
        String(repeating: "long ascii run ", count: 20) + "€" + String(repeating: "x", count: 33),
    ]

    @Test func acceptsValidMultiByteText() {
        for sample in Self.validSamples {
            #expect(isValid(Array(sample.utf8)), "\(sample)")
        }
    }

    @Test(arguments: [
        [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],
        [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
    ] as [[UInt8]])
    func rejectsOverlongEncodings(bytes: [UInt8]) {
        #expect(!isValid(bytes))
        #expect(!isValid(Array("prefix long enough for the fast path".utf8) + bytes))
    }

    @Test(arguments: [[0xED, 0xA0, 0x80], [0xED, 0xAD, 0xBF], [0xED, 0xB0, 0x80], [0xED, 0xBF, 0xBF]] as [[UInt8]])
    func rejectsSurrogates(bytes: [UInt8]) {
        #expect(!isValid(bytes))
    }

    @Test(arguments: [[0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xF7, 0xBF, 0xBF, 0xBF], [0xFF], [0xFE]] as [[UInt8]])
    func rejectsCodePointsAboveU10FFFF(bytes: [UInt8]) {
        #expect(!isValid(bytes))
    }

    @Test func rejectsStrayAndMissingContinuationBytes() {
        #expect(!isValid([0x80]))
        #expect(!isValid([0x61, 0xBF, 0x61]))
        #expect(!isValid([0xE2, 0x82, 0x61]))
        #expect(!isValid([0xC3, 0xC3]))
    }

    @Test func textTruncatedMidSequenceIsNotAtABoundary() {
        for sample in ["é", "€", "𝄞"] {
            let bytes = Array(sample.utf8)
            for cut in 1..<bytes.count {
                var validator = UTF8Validator()
                #expect(bytes[..<cut].withUnsafeBytes { validator.validate($0) })
                #expect(!validator.isAtBoundary)
                #expect(!isValid(Array(bytes[..<cut])))
            }
        }
    }

    @Test func validatesTheSameWhenSplitAtEveryPosition() {
        let valid = Array("ascii then é and € and 𝄞, then more ascii to cross word boundaries".utf8)
        let invalid = Array("ascii then é and € and ".utf8) + [0xED, 0xA0, 0x80] + Array(" tail".utf8)
        for cut in 0...valid.count {
            #expect(isValid(pieces: [valid[..<cut], valid[cut...]]), "cut \(cut)")
        }
        for cut in 0...invalid.count {
            #expect(!isValid(pieces: [invalid[..<cut], invalid[cut...]]), "cut \(cut)")
        }
    }

    @Test func findsAnInvalidByteAtEveryOffsetOfAnAsciiRun() {
        for position in 0..<70 {
            var bytes = [UInt8](repeating: 0x61, count: 70)
            bytes[position] = 0xFF
            #expect(!isValid(bytes), "position \(position)")
        }
    }

    @Test func agreesWithTheStandardLibraryOnRandomInput() {
        var rng = SplitMix64(state: 7)
        // Bytes drawn mostly from lead/continuation ranges so that near-valid sequences are common.
        let alphabet: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0,
                                 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            #expect(isValid(bytes) == expected, "\(bytes)")
        }
    }

    @Test func staysInvalidUntilReset() {
        var validator = UTF8Validator()
        #expect(![UInt8]([0xFF]).withUnsafeBytes { validator.validate($0) })
        #expect(![UInt8]([0x61]).withUnsafeBytes { validator.validate($0) })
        validator.reset()
        #expect([UInt8]([0x61]).withUnsafeBytes { validator.validate($0) })
        #expect(validator.isAtBoundary)
    }

    @Test func decoderAcceptsTextSplitAcrossFragmentsAtEveryPosition() throws {
        let text = Array("a é € 𝄞 z".utf8)
        for cut in 0...text.count {
            let bytes = frame(.text, Array(text[..<cut]), fin: false) + frame(.continuation, Array(text[cut...]))
            #expect(try decode(bytes) == [.message(.text, text)], "cut \(cut)")
        }
    }

    @Test func decoderRejectsInvalidTextSplitAcrossFragmentsAtEveryPosition() {
        let text = Array("a é ".utf8) + [0xF4, 0x90, 0x80, 0x80] + Array(" z".utf8)
        for cut in 0...text.count {
            let bytes = frame(.text, Array(text[..<cut]), fin: false) + frame(.continuation, Array(text[cut...]))
            #expect(closeCode(bytes) == 1007, "cut \(cut)")
        }
    }
}
