import CCrypto

/// Bearer secrets: made from the CSPRNG, shown to their owner once, and stored only as a SHA-256
/// hash. A fast hash is right here (unlike passwords): the secret has 256 random bits, so there is
/// nothing to guess, and every authenticated request pays for the hash.
public enum TokenSecret {
    /// Prefix of personal API tokens, so a leaked one is recognisable in a scan.
    public static let personalPrefix = "bai_"

    /// A new secret: the prefix and 32 random bytes in base64url.
    public static func make(prefix: String = personalPrefix) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress!, 32) }
        guard ok == 1 else { fatalError("RAND_bytes failed: the system random source is unavailable") }
        return prefix + StoreID.base64URL(bytes)
    }

    /// SHA-256 of the secret's UTF-8 bytes: what `api_tokens.token_hash` holds.
    public static func hash(_ secret: String) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let bytes = Array(secret.utf8)
        let ok = bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return digest
    }
}
