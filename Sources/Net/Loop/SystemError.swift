import Glibc

/// A failed system call, with the errno it left and the call's name.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The errno value at the time of failure.
    public let code: Int32
    /// What was being attempted, e.g. "bind 127.0.0.1:8080".
    public let operation: String

    /// Captures the current errno.
    public init(_ operation: String) {
        self.code = errno
        self.operation = operation
    }

    /// An explicit code, for errors not read from errno.
    public init(_ operation: String, code: Int32) {
        self.code = code
        self.operation = operation
    }

    public var description: String {
        "\(operation): \(String(cString: strerror(code)))"
    }
}
