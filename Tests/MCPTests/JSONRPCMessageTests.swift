import Net
import Testing
@testable import MCP

@Suite struct JSONRPCMessageTests {
    @Test func roundTripsEveryShape() throws {
        let messages: [JSONRPCMessage] = [
            .request(id: .number(7), method: "tools/call", params: .object(["name": .string("add")])),
            .request(id: .string("abc"), method: "ping", params: nil),
            .notification(method: "notifications/initialized", params: nil),
            .response(id: .number(7), result: .object([:])),
            .failure(id: .number(9), error: JSONRPCError(code: -32601, message: "Method not found", data: .string("x"))),
            .failure(id: nil, error: JSONRPCError(code: -32700, message: "Parse error")),
        ]
        for message in messages {
            #expect(try JSONRPCMessage.parse(message.serialized()) == message)
        }
    }

    @Test func readsBatchesAndRejectsMalformedMessages() throws {
        let batch = try JSONRPCMessage.parseAll(Array(#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","id":1,"result":{}}]"#.utf8))
        #expect(batch.count == 2)
        let bad = [
            #"{"jsonrpc":"1.0","method":"a"}"#,
            #"{"jsonrpc":"2.0","id":1.5,"method":"a"}"#,
            #"{"jsonrpc":"2.0","id":null,"method":"a"}"#,
            #"{"jsonrpc":"2.0","id":1}"#,
            #"{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}"#,
            #"{"jsonrpc":"2.0","method":"a","params":3}"#,
            #"[]"#, #"7"#, #"{"#,
        ]
        for text in bad {
            #expect(throws: JSONRPCMessage.ParseError.self) { try JSONRPCMessage.parseAll(Array(text.utf8)) }
        }
    }
}
