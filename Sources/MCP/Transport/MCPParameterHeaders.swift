import Net

/// The `x-mcp-header` rules of 2026-07-28 Streamable HTTP: a tool's schema may ask for some of its
/// primitive arguments to be mirrored into `Mcp-Param-{Name}` headers, so gateways can route on them.
enum MCPParameterHeaders {
    /// Why a tool's annotations are invalid (such a tool must be left out of the tool list), or nil.
    static func problem(schema: JSONValue) -> String? {
        var seen: Set<String> = []
        return check(schema, reachable: true, seen: &seen)
    }

    /// The headers for one call, in schema order of discovery.
    static func headers(schema: JSONValue, arguments: JSONValue) -> [(name: String, value: String)] {
        var out: [(name: String, value: String)] = []
        collect(schema, arguments: arguments, into: &out)
        return out
    }

    /// A header value as the spec wants it: plain when it is visible ASCII without surrounding
    /// spaces, else `=?base64?…?=` (also for plain values that look like the sentinel).
    static func encode(_ value: String) -> String {
        let bytes = Array(value.utf8)
        let plain = !bytes.isEmpty && bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || (0x21...0x7E).contains($0) }
            && bytes.first != 0x20 && bytes.last != 0x20 && bytes.first != 0x09 && bytes.last != 0x09
            && !(value.hasPrefix("=?base64?") && value.hasSuffix("?="))
        return plain ? value : "=?base64?" + base64Encoded(bytes) + "?="
    }

    private static func check(_ schema: JSONValue, reachable: Bool, seen: inout Set<String>) -> String? {
        guard case .object(let members) = schema else { return nil }
        if let header = members["x-mcp-header"] {
            guard reachable else { return "x-mcp-header outside a chain of properties" }
            guard let name = header.stringValue, !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else {
                return "x-mcp-header must be a non-empty HTTP token"
            }
            guard seen.insert(name.lowercased()).inserted else { return "x-mcp-header \(name) is used twice" }
            guard let type = members["type"]?.stringValue, ["string", "integer", "boolean"].contains(type) else {
                return "x-mcp-header \(name) is on a property that is not a string, integer or boolean"
            }
        }
        for (key, value) in members where key != "x-mcp-header" {
            switch key {
            case "properties":
                for property in value.objectValue?.values.map({ $0 }) ?? [] {
                    if let problem = check(property, reachable: reachable, seen: &seen) { return problem }
                }
            case "items", "prefixItems", "oneOf", "anyOf", "allOf", "not", "if", "then", "else", "$defs", "definitions",
                 "additionalProperties", "patternProperties", "dependentSchemas":
                let nested: [JSONValue] = value.arrayValue ?? value.objectValue.map { key == "$defs" || key == "definitions" || key == "patternProperties" || key == "dependentSchemas" ? Array($0.values) : [value] } ?? []
                for item in nested {
                    if let problem = check(item, reachable: false, seen: &seen) { return problem }
                }
            default:
                continue
            }
        }
        return nil
    }

    private static func collect(_ schema: JSONValue, arguments: JSONValue?, into out: inout [(name: String, value: String)]) {
        guard let properties = schema["properties"]?.objectValue else { return }
        for key in properties.keys.sorted() {
            guard let property = properties[key] else { continue }
            let value = arguments?[key]
            if let name = property["x-mcp-header"]?.stringValue, let value {
                switch value {
                case .string(let text): out.append(("Mcp-Param-\(name)", encode(text)))
                case .bool(let flag): out.append(("Mcp-Param-\(name)", flag ? "true" : "false"))
                case .number(let number) where number.rounded() == number && abs(number) < 9_007_199_254_740_992:
                    out.append(("Mcp-Param-\(name)", String(Int64(number))))
                default: break  // null or a wrong type: the header is omitted
                }
            }
            if property["properties"] != nil { collect(property, arguments: value, into: &out) }
        }
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}
