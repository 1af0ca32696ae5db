@testable import LLM

/// One chunk decoded from its bytes, as the transport hands it over, events collected.
func decodeFromBytes<Decoder: ProviderStreamDecoder>(_ decoder: inout Decoder, event: String? = nil, _ data: String) -> [LLMStreamEvent] {
    var events: [LLMStreamEvent] = []
    let type = event.map { Array($0.utf8) }
    Array(data.utf8).withUnsafeBytes { data in
        if let type {
            type.withUnsafeBytes { type in decoder.decode(event: type, data: data) { events.append($0) } }
        } else {
            decoder.decode(event: nil, data: data) { events.append($0) }
        }
    }
    return events
}

/// The chunks, then every prefix of each: a cut chunk must never be read as another one.
func withEveryPrefix(_ chunks: [String]) -> [String] {
    chunks + chunks.flatMap { chunk in (0..<chunk.count).map { String(chunk.prefix($0)) } }
}

/// A direct reading applied to a chunk's bytes.
func read<Reading>(_ chunk: String, with reading: (UnsafeRawBufferPointer) -> Reading?) -> Reading? {
    Array(chunk.utf8).withUnsafeBytes { reading($0) }
}
