import SedimentFormat

/// The materialized views of the log: every map's keys with their version histories.
///
/// A pure value: `apply` folds committed records in LSN order, reads resolve a `ReadPoint`
/// whose `validAt` the caller has already fixed. The `Database` guards one instance with a lock.
struct Views: Sendable {
    /// Map name → key → history.
    var maps: [String: [String: KeyHistory]] = [:]
    /// The newest LSN folded in.
    var appliedLSN: LSN = 0
    /// The newest transaction time folded in.
    var lastTxTime: TxTime = .zero
    /// The greatest operation HLC folded in (recovers the database's clock on open).
    var maxTimestamp: HLCTimestamp?

    mutating func apply(_ record: LogRecord) {
        precondition(record.lsn == appliedLSN + 1, "views applied LSN \(record.lsn) after \(appliedLSN)")
        let op = record.operation
        maps[op.map, default: [:]][op.key, default: KeyHistory()].append(Version(record))
        appliedLSN = record.lsn
        lastTxTime = record.txTime
        if maxTimestamp.map({ $0 < op.timestamp }) ?? true { maxTimestamp = op.timestamp }
    }

    /// The live value of a last-writer-wins key.
    func get(_ map: String, _ key: String, asOf: TxTime?, validAt: Int64) -> Version? {
        maps[map]?[key]?.value(asOf: asOf, validAt: validAt)
    }

    /// Live keys of a map with their values, sorted by key, starting after `after`.
    func scan(_ map: String, asOf: TxTime?, validAt: Int64, after: String? = nil, limit: Int = .max) -> [(key: String, version: Version)] {
        guard let keys = maps[map], limit > 0 else { return [] }
        var out: [(key: String, version: Version)] = []
        for (key, history) in keys {
            if let after, key <= after { continue }
            if let v = history.value(asOf: asOf, validAt: validAt) { out.append((key, v)) }
        }
        out.sort { $0.key < $1.key }
        if out.count > limit { out.removeSubrange(limit...) }
        return out
    }

    /// Live OR-map entries of a key.
    func members(_ map: String, _ key: String, asOf: TxTime?, validAt: Int64) -> [Version] {
        maps[map]?[key]?.members(asOf: asOf, validAt: validAt) ?? []
    }

    /// Keys of an OR map with at least one live entry, sorted by key.
    func scanMembers(_ map: String, asOf: TxTime?, validAt: Int64) -> [(key: String, members: [Version])] {
        guard let keys = maps[map] else { return [] }
        var out: [(key: String, members: [Version])] = []
        for (key, history) in keys {
            let m = history.members(asOf: asOf, validAt: validAt)
            if !m.isEmpty { out.append((key, m)) }
        }
        return out.sorted { $0.key < $1.key }
    }

    /// Every version of a key, oldest first.
    func history(_ map: String, _ key: String) -> [Version] {
        maps[map]?[key]?.history ?? []
    }

    /// Map names, sorted.
    var mapNames: [String] { maps.keys.sorted() }
}
