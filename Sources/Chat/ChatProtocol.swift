/// Constants of the chat WebSocket protocol (issue 6 defines its messages in docs/protocol.md).
public enum ChatProtocol {
    /// The subprotocol clients offer in Sec-WebSocket-Protocol.
    public static let subprotocol = "builderai.v1"
    /// Where chat clients connect.
    public static let path = "/ws"
}
