public import SedimentFormat
import SedimentLog

/// Committed operations in LSN order from a starting LSN, then live as they commit.
///
/// Pull-based: records are read from the log when the consumer asks for the next one, so a slow
/// consumer holds back only itself and nothing is buffered for it in memory. The sequence ends
/// when the database closes or the consuming task is cancelled; it throws if the log cannot be
/// read.
public struct ChangeFeed: AsyncSequence, Sendable {
    public typealias Element = LogRecord

    let log: SegmentedLog
    let notifier: CommitNotifier
    let start: LSN

    public func makeAsyncIterator() -> Iterator {
        Iterator(cursor: log.records(from: start), notifier: notifier)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var cursor: LogCursor
        let notifier: CommitNotifier

        public mutating func next() async throws -> LogRecord? {
            while !Task.isCancelled {
                if let record = try cursor.next() { return record }
                guard await notifier.wait(for: cursor.position) else { return nil }
            }
            return nil
        }

        /// The next records already committed, up to `max`: at least one (waiting for it if
        /// none is there yet), returned once the views reflect them all; nil at the end. Lets a
        /// consumer handle a burst as one batch and read the database consistently with it.
        public mutating func nextBatch(max: Int) async throws -> [LogRecord]? {
            guard let first = try await next() else { return nil }
            var out = [first]
            while out.count < max, let record = try cursor.next() { out.append(record) }
            guard await notifier.wait(for: out[out.count - 1].lsn) else { return nil }
            return out
        }
    }
}
