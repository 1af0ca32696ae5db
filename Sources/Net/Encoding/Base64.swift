import CCrypto

/// Standard base64 with padding, via libcrypto (WebSocket accept keys, MCP header values).
public func base64Encoded(_ bytes: [UInt8]) -> String {
    var out = [UInt8](repeating: 0, count: (bytes.count + 2) / 3 * 4 + 1)
    let n = EVP_EncodeBlock(&out, bytes, Int32(bytes.count))
    return String(decoding: out[0..<Int(n)], as: UTF8.self)
}
