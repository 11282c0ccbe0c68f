import Foundation

/// This process's memory as the kernel counts it.
public enum ProcessMemory {
    /// Resident and peak resident bytes, from /proc/self/status (zeros where it does not exist).
    public static func resident() -> (rss: Int, peak: Int) {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        return (kilobytes("VmRSS", in: text) ?? 0, kilobytes("VmHWM", in: text) ?? 0)
    }

    /// The bytes of a "Name:  N kB" line of a /proc file.
    private static func kilobytes(_ name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }

    /// The memory this process may use: the machine's (`MemTotal`), or its control group's limit
    /// if that is lower (`memory.max` in cgroup v2, `memory.limit_in_bytes` in v1: of the
    /// process's own group, as a systemd service with `MemoryMax` has, or of the root a container
    /// sees). Nil where none can be read.
    public static func available() -> Int? {
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let total = read("/proc/meminfo").flatMap { kilobytes("MemTotal", in: $0) }
        // "max" (v2) or a huge number (v1) means no limit.
        var limits = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        for line in (read("/proc/self/cgroup") ?? "").split(separator: "\n") {
            // "0::/path" (v2), "N:memory:/path" (v1).
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[2] != "/" else { continue }
            if fields[1].isEmpty { limits.append("/sys/fs/cgroup\(fields[2])/memory.max") }
            if fields[1].split(separator: ",").contains("memory") { limits.append("/sys/fs/cgroup/memory\(fields[2])/memory.limit_in_bytes") }
        }
        let cgroup = limits.compactMap { read($0).flatMap { Int($0) } }.min()
        switch (total, cgroup) {
        case let (t?, c?): return min(t, c)
        case let (t, c): return t ?? c
        }
    }
}
