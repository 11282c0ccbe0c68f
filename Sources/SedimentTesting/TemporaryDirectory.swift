#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A fresh directory under the system temp dir, removed (with its contents) by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "test") {
        let base = String(cString: getenv("TMPDIR") ?? strdup("/tmp"))
        var template = Array("\(base)/sediment-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed: \(String(cString: strerror(errno)))")
        path = String(cString: made!)
    }

    public func appending(_ component: String) -> String { path + "/" + component }

    /// Removes the directory tree.
    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs `body` with a new temporary directory and removes it afterwards.
public func withTemporaryDirectory<R>(
    _ label: String = "test", _ body: (TemporaryDirectory) async throws -> R
) async rethrows -> R {
    let dir = TemporaryDirectory(label)
    defer { dir.remove() }
    return try await body(dir)
}
