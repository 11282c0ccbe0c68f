#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import SedimentFormat

/// Formatting shared by the commands.
enum Output {
    /// Epoch millis as RFC 3339 UTC with milliseconds.
    static func time(_ millis: UInt64) -> String { EpochMillis.format(millis) }

    static func time(_ tx: TxTime?) -> String {
        guard let tx else { return "-" }
        return time(tx.millis) + (tx.counter > 0 ? "+\(tx.counter)" : "")
    }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var u = 0
        while v >= 1024 && u < units.count - 1 {
            v /= 1024
            u += 1
        }
        return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
    }

    /// One JSON object on standard output.
    static func json(_ object: [String: Any]) {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    static func standardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// A system call's failure as the system says it ("Connection refused"), not SwiftNIO's
    /// description of the call; any other error as it describes itself.
    static func reason(_ error: any Error) -> String {
        guard let io = error as? IOError else { return "\(error)" }
        return String(cString: strerror(io.errnoCode))
    }
}

