/// Migration 4: what the chat engine needs to rebuild a conversation exactly.
///
/// - `reply_to`: the user message an assistant or tool message answers. Prompts may queue while a
///   generation runs, so `seq` order alone interleaves a queued prompt with the replies to an earlier
///   one; the LLM context is rebuilt turn by turn through this column.
/// - `generation_id`: the run that produced the message. Regenerating answers the same prompt again;
///   the newest generation of a prompt is the one the context keeps (older ones are superseded).
/// - `end_seq`: the sequence number of the last chat event the message stands for (its deltas, tool
///   calls, finish). A client resuming from the store gets the message as one snapshot at `end_seq`.
/// - `stop_reason`: why an assistant message ended (end, length, tool_use, content_filter,
///   step_limit, cancelled) or the error code when it failed.
public enum ChatSchema {
    public static let migration = Migration(version: 4, name: "chat", sql: """
        ALTER TABLE messages ADD COLUMN reply_to TEXT;
        ALTER TABLE messages ADD COLUMN generation_id TEXT;
        ALTER TABLE messages ADD COLUMN end_seq INTEGER;
        ALTER TABLE messages ADD COLUMN stop_reason TEXT;
        -- Start-up finds messages a crash cut off without scanning every message.
        CREATE INDEX messages_incomplete ON messages(conversation_id) WHERE status = 'incomplete';
        """)
}
