import Net

/// Access tokens: JWT (RFC 7519) signed with HS256, carrying `sub`, `iat`, `exp` and `jti`. Only
/// `{"alg":"HS256","typ":"JWT"}` headers are accepted: `none`, RS256 and anything else are refused
/// before the signature is even looked at.
public struct JWTSigner: Sendable {
    private let key: [UInt8]
    public let lifetimeSeconds: Int64

    public init(key: [UInt8], lifetimeSeconds: Int64 = 900) {
        precondition(key.count >= 32, "the JWT key must have at least 256 bits")
        self.key = key
        self.lifetimeSeconds = lifetimeSeconds
    }

    public struct Claims: Sendable, Equatable {
        public var subject: String
        public var issuedAt: Int64
        public var expiresAt: Int64
    }

    private static let header = Crypto.base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))

    public func sign(subject: String, now: Int64) -> String {
        let payload = JSONValue.object(["sub": .string(subject), "iat": .number(Double(now)),
                                        "exp": .number(Double(now + lifetimeSeconds)),
                                        "jti": .string(Crypto.base64URL(Crypto.randomBytes(9)))])
        let signingInput = Self.header + "." + Crypto.base64URL(payload.serialized())
        return signingInput + "." + Crypto.base64URL(Crypto.hmacSHA256(key: key, Array(signingInput.utf8)))
    }

    public enum Failure: Error, Equatable {
        case malformed, unsupportedAlgorithm, badSignature, expired
    }

    /// The claims of a valid, unexpired token signed with this key.
    public func verify(_ token: String, now: Int64) -> Result<Claims, Failure> {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Crypto.decodeBase64URL(parts[0]),
              let header = try? JSONValue.parse(headerBytes) else { return .failure(.malformed) }
        guard header["alg"]?.stringValue == "HS256", header["typ"].map({ $0.stringValue == "JWT" }) ?? true else {
            return .failure(.unsupportedAlgorithm)
        }
        guard let signature = Crypto.decodeBase64URL(parts[2]) else { return .failure(.malformed) }
        let expected = Crypto.hmacSHA256(key: key, Array(token.utf8[..<parts[2].startIndex].dropLast()))
        guard Crypto.constantTimeEqual(signature, expected) else { return .failure(.badSignature) }
        guard let payloadBytes = Crypto.decodeBase64URL(parts[1]), let payload = try? JSONValue.parse(payloadBytes),
              let subject = payload["sub"]?.stringValue, let iat = payload["iat"]?.intValue,
              let exp = payload["exp"]?.intValue else { return .failure(.malformed) }
        guard Int64(exp) > now else { return .failure(.expired) }
        return .success(Claims(subject: subject, issuedAt: Int64(iat), expiresAt: Int64(exp)))
    }
}
