import Dispatch

/// Passwords as PBKDF2-HMAC-SHA256 (libcrypto) with a random 16-byte salt, stored as
/// `pbkdf2-sha256$ITERATIONS$SALT$HASH` (base64url), so the cost can rise later without breaking old
/// hashes. At 600,000 iterations a hash takes a noticeable fraction of a second, so it never runs on
/// an event loop: `hash` and `verify` run on a small dedicated queue and complete from there.
public struct PasswordHasher: Sendable {
    /// The OWASP 2023 minimum for PBKDF2-HMAC-SHA256.
    public static let defaultIterations = 600_000
    public let iterations: Int
    private static let queue = DispatchQueue(label: "builderai.passwords", qos: .userInitiated, attributes: .concurrent)

    public init(iterations: Int = PasswordHasher.defaultIterations) {
        self.iterations = iterations
    }

    /// Synchronous form, for the CLI and tests.
    public func hashNow(_ password: String) -> String {
        let salt = Crypto.randomBytes(16)
        let hash = Crypto.pbkdf2SHA256(password: Array(password.utf8), salt: salt, iterations: iterations)
        return "pbkdf2-sha256$\(iterations)$\(Crypto.base64URL(salt))$\(Crypto.base64URL(hash))"
    }

    /// Whether `password` matches `stored`, comparing in constant time. Unknown formats never match.
    public static func verifyNow(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$")
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let iterations = Int(parts[1]), (1...10_000_000).contains(iterations),
              let salt = Crypto.decodeBase64URL(parts[2]), let expected = Crypto.decodeBase64URL(parts[3]), expected.count == 32 else {
            return false
        }
        let actual = Crypto.pbkdf2SHA256(password: Array(password.utf8), salt: salt, iterations: iterations)
        return Crypto.constantTimeEqual(actual, expected)
    }

    public func hash(_ password: String) async -> String {
        await withCheckedContinuation { done in
            Self.queue.async { done.resume(returning: self.hashNow(password)) }
        }
    }

    public static func verify(_ password: String, against stored: String) async -> Bool {
        await withCheckedContinuation { done in
            queue.async { done.resume(returning: verifyNow(password, against: stored)) }
        }
    }
}
