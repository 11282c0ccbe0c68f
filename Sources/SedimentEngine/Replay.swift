public import Logging
public import SedimentFormat
import SedimentLog

/// Rebuilds state from a log, up to a transaction time if asked: `sediment replay`.
public enum Replay {
    public struct Summary: Sendable {
        /// Operations replayed (those committed at or before `asOf`).
        public var operations = 0
        public var lastLSN: LSN = 0
        public var lastTxTime: TxTime = .zero
        public var maps = 0
        /// Keys ever written.
        public var keys = 0
        /// Keys with a live last-writer-wins value or OR entries at the end of the replay.
        public var liveKeys = 0
        /// Whether the replay stopped before the end of the log because of `asOf`.
        public var stoppedEarly = false
    }

    /// Replays the log in `data` (whose newest snapshot is not used: this rebuilds everything)
    /// up to `asOf`. With `target`, the replayed records are copied, with their LSNs and
    /// transaction times, into a new database there, which is snapshotted and closed: a
    /// point-in-time copy that opens and answers like the original did at `asOf`.
    /// `progress(done, total)` is called now and then with operation counts.
    public static func run(
        data: String, asOf: TxTime?, target: String?, logger: Logger,
        progress: (Int, Int) -> Void = { _, _ in }
    ) async throws(EngineError) -> Summary {
        let source: SegmentedLog
        do { source = try SegmentedLog.open(LogConfiguration(directory: data), logger: logger) } catch { throw EngineError(error) }
        var summary = Summary()
        var views = Views()
        var targetDB: Database?
        do {
            if let target {
                var config = DatabaseConfiguration(directory: target)
                config.log.durability = .none  // synced by the close below
                config.snapshotEveryOperations = nil
                let db = try Database.open(config, logger: logger)
                targetDB = db
                guard db.appliedLSN == 0 else {
                    throw EngineError(.invalidArgument, "\(target) already holds a database (LSN \(db.appliedLSN)); replay needs an empty directory")
                }
            }
            let total = Int(source.writtenLSN)
            var cursor = source.records(from: 1)
            var batch: [LogRecord] = []
            progress(0, total)
            while let record = try cursor.next() {
                if let asOf, record.txTime > asOf {
                    summary.stoppedEarly = true
                    break
                }
                if let db = targetDB {
                    batch.append(record)
                    if batch.count == 4096 {
                        _ = try await db.log.appendCommitted(batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                } else {
                    views.apply(record)
                }
                summary.operations += 1
                summary.lastLSN = record.lsn
                summary.lastTxTime = record.txTime
                if summary.operations % 65_536 == 0 { progress(summary.operations, total) }
            }
            if let db = targetDB, !batch.isEmpty { _ = try await db.log.appendCommitted(batch) }
            progress(summary.operations, total)
        } catch {
            if let db = targetDB { try? await db.close() }
            try? await source.close()
            throw EngineError.wrap(error)
        }
        if let db = targetDB {
            views = db.viewsCopy
            try await db.close()
        }
        do { try await source.close() } catch { throw EngineError.wrap(error) }
        let now = Int64(clamping: SystemWallClock().nowMillis())
        summary.maps = views.maps.count
        for (_, keys) in views.maps {
            summary.keys += keys.count
            for (_, history) in keys {
                // Replayed views have no memory budget: every lookup is decided in memory.
                guard case .found(let winner) = history.winner(asOf: asOf, validAt: now) else { preconditionFailure("replayed views evicted versions") }
                if KeyHistory.live(winner, validAt: now) != nil || !history.members(asOf: asOf, validAt: now).isEmpty {
                    summary.liveKeys += 1
                }
            }
        }
        return summary
    }
}
