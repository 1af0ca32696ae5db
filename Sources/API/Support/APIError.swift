import Net
import Store

/// A request the API refuses, as an RFC 9457 problem document: the status, what exactly was wrong,
/// and the field when one is to blame.
public struct APIError: Error, Sendable {
    public var status: HTTPStatus
    public var detail: String
    public var field: String?
    public var headers: HTTPHeaders

    public init(_ status: HTTPStatus, _ detail: String, field: String? = nil, headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status
        self.detail = detail
        self.field = field
        self.headers = headers
    }

    static func badRequest(_ detail: String, field: String? = nil) -> APIError { APIError(.badRequest, detail, field: field) }
    static func unprocessable(_ detail: String, field: String? = nil) -> APIError { APIError(HTTPStatus(422), detail, field: field) }
    static let unauthenticated = APIError(HTTPStatus(401), "this route needs a bearer token: Authorization: Bearer <token>",
                                          headers: bearerChallenge)
    static func notFound(_ what: String) -> APIError { APIError(HTTPStatus(404), "no \(what)") }
    static func forbidden(_ detail: String) -> APIError { APIError(HTTPStatus(403), detail) }
    static func conflict(_ detail: String, field: String? = nil) -> APIError { APIError(HTTPStatus(409), detail, field: field) }

    static var bearerChallenge: HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add("WWW-Authenticate", "Bearer realm=\"builderai\"")
        return headers
    }

    /// Maps a database failure: a full write queue is 503 with Retry-After, the rest 500.
    static func store(_ error: any Error) -> APIError {
        if let apiError = error as? APIError { return apiError }
        if let storeError = error as? StoreError {
            switch storeError.kind {
            case .busy:
                var headers = HTTPHeaders()
                headers.add("Retry-After", "1")
                return APIError(HTTPStatus(503), "the server is saturated; retry shortly", headers: headers)
            case .uniqueViolation: return .conflict("that already exists")
            default: break
            }
        }
        return APIError(HTTPStatus(500), "the server failed to complete the request")
    }

    var response: HTTPResponse {
        var fields: [String: JSONValue] = ["type": "about:blank", "title": .string(status.reason),
                                           "status": .number(Double(status.code)), "detail": .string(detail)]
        if let field { fields["field"] = .string(field) }
        var response = HTTPResponse(status: status, headers: headers, body: JSONValue.object(fields).serialized())
        response.headers.replaceOrAdd("Content-Type", "application/problem+json")
        return response
    }
}
