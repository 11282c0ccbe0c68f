import Foundation

/// This process's memory as the kernel counts it.
public enum ProcessMemory {
    /// Resident and peak resident bytes, from /proc/self/status (zeros where it does not exist).
    public static func resident() -> (rss: Int, peak: Int) {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Int {
            for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
                return (Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0) * 1024
            }
            return 0
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    /// The memory this process may use: the machine's (`MemTotal`), or its control group's limit
    /// if that is lower (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`). Nil where neither
    /// can be read.
    public static func available() -> Int? {
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var total: Int?
        if let meminfo = read("/proc/meminfo") {
            for line in meminfo.split(separator: "\n") where line.hasPrefix("MemTotal:") {
                total = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
            }
        }
        // "max" (v2) or a huge number (v1) means no limit.
        let cgroup = [read("/sys/fs/cgroup/memory.max"), read("/sys/fs/cgroup/memory/memory.limit_in_bytes")]
            .compactMap { $0.flatMap { Int($0) } }.min()
        switch (total, cgroup) {
        case let (t?, c?): return min(t, c)
        case let (t, c): return t ?? c
        }
    }
}
