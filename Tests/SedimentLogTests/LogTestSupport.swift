import Logging
import SedimentFormat
import SedimentLog
import SedimentTesting

/// A logger that drops everything (tests never bootstrap the global logging system).
let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

func configuration(_ dir: TemporaryDirectory, clock: MockWallClock = MockWallClock()) -> LogConfiguration {
    var c = LogConfiguration(directory: dir.path)
    c.clock = clock
    c.durability = .none
    c.maxSegmentAgeMillis = nil
    c.maxSegmentBytes = 256 << 10
    c.maxBlockBytes = 64 << 10
    return c
}

/// Every record of the log, in order.
func readAll(_ log: SegmentedLog, from lsn: LSN = 1) throws -> [LogRecord] {
    var cursor = log.records(from: lsn)
    var out: [LogRecord] = []
    while let r = try cursor.next() { out.append(r) }
    return out
}

/// Appends `count` deterministic puts, `concurrency` at a time; returns key by LSN.
func appendPuts(_ log: SegmentedLog, count: Int, prefix: String = "k", valueSize: Int = 100, concurrency: Int = 8)
    async throws -> [LSN: String]
{
    try await withThrowingTaskGroup(of: [(LSN, String)].self) { group in
        for w in 0..<concurrency {
            group.addTask {
                var acked: [(LSN, String)] = []
                var i = w
                while i < count {
                    let key = "\(prefix)\(i)"
                    let r = try await log.append(SampleOperations.put(key: key, valueSize: valueSize))
                    acked.append((r.firstLSN, key))
                    i += concurrency
                }
                return acked
            }
        }
        var all: [LSN: String] = [:]
        for try await part in group { for (lsn, key) in part { all[lsn] = key } }
        return all
    }
}
