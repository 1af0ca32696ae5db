import Glibc
import Synchronization

/// Structured logging: one JSON object per line on stderr, with a level, a UTC timestamp and fields.
///
/// One `write(2)` per line, so lines from different threads never interleave. Secrets must never be
/// passed as fields; callers log ids and names, not keys or tokens.
public enum Log {
    /// Severity, lowest first.
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warning, error

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        /// Parses "debug", "info", "warning"/"warn" or "error".
        public init?(name: String) {
            switch name.lowercased() {
            case "debug": self = .debug
            case "info": self = .info
            case "warning", "warn": self = .warning
            case "error": self = .error
            default: return nil
            }
        }

        var name: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warning: "warning"
            case .error: "error"
            }
        }
    }

    private static let minimum = Atomic<Int>(Level.info.rawValue)

    /// Lines below this level are dropped.
    public static var level: Level {
        get { Level(rawValue: minimum.load(ordering: .relaxed)) ?? .info }
        set { minimum.store(newValue.rawValue, ordering: .relaxed) }
    }

    public static func debug(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) {
        write(.debug, message, fields)
    }

    public static func info(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) {
        write(.info, message, fields)
    }

    public static func warning(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) {
        write(.warning, message, fields)
    }

    public static func error(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) {
        write(.error, message, fields)
    }

    /// Whether a line at `level` would be written; lets callers skip building expensive fields.
    public static func enabled(_ level: Level) -> Bool { level.rawValue >= minimum.load(ordering: .relaxed) }

    static func write(_ level: Level, _ message: String, _ fields: KeyValuePairs<String, String>) {
        guard enabled(level) else { return }
        var line = "{\"ts\":\""
        line += timestamp()
        line += "\",\"level\":\""
        line += level.name
        line += "\",\"msg\":"
        appendJSONString(message, to: &line)
        for (key, value) in fields {
            line += ","
            appendJSONString(key, to: &line)
            line += ":"
            appendJSONString(value, to: &line)
        }
        line += "}\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// RFC 3339 UTC with milliseconds, e.g. 2026-11-25T10:16:33.123Z.
    static func timestamp() -> String {
        let (seconds, nanos) = MonotonicClock.wallClock()
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(nanos / 1_000_000), 3))Z"
    }
}

/// Appends `value` as a JSON string literal (quotes included), escaping per RFC 8259.
public func appendJSONString(_ value: String, to out: inout String) {
    out += "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    out += "\""
}
