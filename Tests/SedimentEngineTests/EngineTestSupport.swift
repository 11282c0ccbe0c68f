import Logging
import SedimentEngine
import SedimentFormat
import SedimentLog
import SedimentTesting

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A small-segment, no-fsync database configuration on a mock clock.
func databaseConfiguration(_ dir: TemporaryDirectory, clock: MockWallClock) -> DatabaseConfiguration {
    databaseConfiguration(dir.path, clock: clock)
}

func databaseConfiguration(_ path: String, clock: MockWallClock) -> DatabaseConfiguration {
    var log = LogConfiguration(directory: path)
    log.clock = clock
    log.durability = .none
    log.maxSegmentAgeMillis = nil
    log.maxSegmentBytes = 64 << 10
    log.maxBlockBytes = 16 << 10
    return DatabaseConfiguration(log: log)
}

/// The naive reference: every committed record in a list, every answer computed from the
/// definition by brute force.
struct ReferenceModel {
    var records: [LogRecord] = []

    private static func validFrom(_ r: LogRecord) -> Int64 { r.operation.validFrom ?? Int64(r.txTime.millis) }

    private static func covers(_ r: LogRecord, _ at: Int64) -> Bool {
        validFrom(r) <= at && at < (r.operation.validTo ?? .max)
    }

    private static func expired(_ r: LogRecord, _ at: Int64) -> Bool {
        guard let ttl = r.operation.ttlMillis else { return false }
        return at >= Int64(r.operation.timestamp.millis) + Int64(ttl)
    }

    private func visible(_ map: String, _ key: String, asOf: TxTime?) -> [LogRecord] {
        records.filter { r in r.operation.map == map && r.operation.key == key && (asOf.map { r.txTime <= $0 } ?? true) }
    }

    /// Greatest operation HLC among covering puts/removes, ties to the lowest LSN.
    func get(_ map: String, _ key: String, asOf: TxTime?, validAt: Int64) -> LogRecord? {
        var best: LogRecord?
        for r in visible(map, key, asOf: asOf)
        where (r.operation.kind == .put || r.operation.kind == .remove) && Self.covers(r, validAt) {
            if let b = best, !(b.operation.timestamp < r.operation.timestamp) { continue }
            best = r
        }
        guard let best, best.operation.kind == .put, !Self.expired(best, validAt) else { return nil }
        return best
    }

    func members(_ map: String, _ key: String, asOf: TxTime?, validAt: Int64) -> [LogRecord] {
        let rs = visible(map, key, asOf: asOf)
        let removed = Set(rs.filter { $0.operation.kind == .orRemove }.map { $0.operation.tag! })
        var alive: [String: LogRecord] = [:]
        for r in rs where r.operation.kind == .orAdd && !removed.contains(r.operation.tag!)
            && Self.covers(r, validAt) && !Self.expired(r, validAt)
        {
            if let e = alive[r.operation.tag!], !(e.operation.timestamp < r.operation.timestamp) { continue }
            alive[r.operation.tag!] = r
        }
        return alive.values.sorted { $0.operation.tag! < $1.operation.tag! }
    }

    func keys(_ map: String) -> [String] {
        Set(records.filter { $0.operation.map == map }.map(\.operation.key)).sorted()
    }

    func history(_ map: String, _ key: String) -> [LogRecord] {
        records.filter { $0.operation.map == map && $0.operation.key == key }
    }
}
