import Net

/// A JSON object from a request body, read field by field. Every error names the field; fields the
/// route does not know are refused (400), so a typo never silently does nothing.
struct JSONInput {
    let object: [String: JSONValue]

    init(_ request: HTTPRequest, allowed: Set<String>) throws(APIError) {
        let type = request.headers["Content-Type"]?.lowercased() ?? ""
        guard type.hasPrefix("application/json") else {
            throw APIError(HTTPStatus(415), "send the body as application/json (got \(type.isEmpty ? "no Content-Type" : type))")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(request.body)
        } catch {
            throw .badRequest("the body is not valid JSON: \(error)")
        }
        guard case .object(let object) = value else { throw .badRequest("the body must be a JSON object") }
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .badRequest("unknown field \"\(unknown)\"; this route takes \(allowed.sorted().joined(separator: ", "))", field: unknown)
        }
        self.object = object
    }

    func has(_ key: String) -> Bool { object[key] != nil }

    func string(_ key: String, min: Int = 1, max: Int) throws(APIError) -> String {
        guard let value = try optionalString(key, min: min, max: max) else {
            throw .unprocessable("\"\(key)\" is required", field: key)
        }
        return value
    }

    func optionalString(_ key: String, min: Int = 0, max: Int) throws(APIError) -> String? {
        guard let raw = object[key], !raw.isNull else { return nil }
        guard let text = raw.stringValue else { throw .unprocessable("\"\(key)\" must be a string", field: key) }
        let length = text.count
        guard length >= min, length <= max else {
            throw .unprocessable("\"\(key)\" must be \(min == max ? "\(min)" : "\(min) to \(max)") characters long (got \(length))", field: key)
        }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r" }) else {
            throw .unprocessable("\"\(key)\" contains control characters", field: key)
        }
        return text
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let value = try optionalInt(key, in: range) else { throw .unprocessable("\"\(key)\" is required", field: key) }
        return value
    }

    func optionalInt(_ key: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let raw = object[key], !raw.isNull else { return nil }
        guard let value = raw.intValue, range.contains(value) else {
            throw .unprocessable("\"\(key)\" must be an integer from \(range.lowerBound) to \(range.upperBound)", field: key)
        }
        return value
    }

    func optionalBool(_ key: String) throws(APIError) -> Bool? {
        guard let raw = object[key], !raw.isNull else { return nil }
        guard let value = raw.boolValue else { throw .unprocessable("\"\(key)\" must be true or false", field: key) }
        return value
    }

    func optionalStrings(_ key: String, maxCount: Int, maxLength: Int) throws(APIError) -> [String]? {
        guard let raw = object[key], !raw.isNull else { return nil }
        guard let items = raw.arrayValue, items.count <= maxCount else {
            throw .unprocessable("\"\(key)\" must be an array of at most \(maxCount) strings", field: key)
        }
        var out: [String] = []
        for item in items {
            guard let text = item.stringValue, !text.isEmpty, text.count <= maxLength else {
                throw .unprocessable("each of \"\(key)\" must be a string of 1 to \(maxLength) characters", field: key)
            }
            out.append(text)
        }
        return out
    }

    func oneOf(_ key: String, _ values: Set<String>, required: Bool = true) throws(APIError) -> String? {
        guard let raw = object[key], !raw.isNull else {
            if required { throw .unprocessable("\"\(key)\" is required", field: key) }
            return nil
        }
        guard let text = raw.stringValue, values.contains(text) else {
            throw .unprocessable("\"\(key)\" must be one of \(values.sorted().joined(separator: ", "))", field: key)
        }
        return text
    }
}
