import Foundation
import TestSupport

enum TestSupportPaths {
    static var prompts: String { Peers.packageRoot.path + "/prompts" }
}

/// A scratch folder for template files.
struct TemporaryDirectoryForPrompts {
    let inner = TemporaryDirectory()
    var path: String { inner.path }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
    }

    func remove() { inner.remove() }
}
