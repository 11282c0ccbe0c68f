import Logging
import SedimentFormat
import SedimentLog
import SedimentTesting
import Synchronization

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

/// An open log of `segmentBytes` segments (and `blockBytes` blocks, if given) holding `count`
/// puts (`appendPuts`, 4 at a time).
func logOfPuts(
    _ dir: TemporaryDirectory, count: Int, valueSize: Int = 100, segmentBytes: Int, blockBytes: Int? = nil
) async throws -> (SegmentedLog, LogConfiguration) {
    var config = configuration(dir)
    config.maxSegmentBytes = segmentBytes
    if let blockBytes { config.maxBlockBytes = blockBytes }
    let log = try SegmentedLog.open(config, logger: quietLogger)
    _ = try await appendPuts(log, count: count, valueSize: valueSize, concurrency: 4)
    return (log, config)
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

/// What `appendHere` gave one append: its result, and the log's durable LSN when it was answered.
struct HereAnswer: Sendable {
    var result: Result<AppendResult, LogError>
    var durableAtAnswer: LSN
}

/// Commits `groups` (one append each) with `appendHere` on the calling thread; returns each
/// append's answer, in order, once all have come.
func appendHere(
    _ log: SegmentedLog, _ groups: [[Operation]], acknowledge: SegmentedLog.Acknowledgement = .durable
) async -> [HereAnswer] {
    final class Answers: Sendable {
        let slots: Mutex<[HereAnswer?]>
        init(_ n: Int) { slots = Mutex(Array(repeating: nil, count: n)) }
    }
    let answers = Answers(groups.count)
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        log.appendHere(groups.enumerated().map { i, operations in
            SegmentedLog.GroupedAppend<LogError>(operations, acknowledge: acknowledge) { result in
                let answer = HereAnswer(result: result, durableAtAnswer: log.durableLSN)
                let complete = answers.slots.withLock { slots in
                    slots[i] = answer
                    return !slots.contains { $0 == nil }
                }
                if complete { done.resume() }
            }
        })
    }
    return answers.slots.withLock { $0.map { $0! } }
}
