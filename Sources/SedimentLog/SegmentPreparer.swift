#if canImport(Glibc)
import Glibc
#endif
import Logging
import SedimentFormat
import Synchronization

/// Prepares the next segment file in the background: a temp file the size of a segment, written
/// with zeros and synced, so that appends to it overwrite written blocks (a cheaper
/// `fdatasync`, see `POSIXFile.writeZeros`). At a roll the writer only stamps the header into
/// it and renames it; if none is ready yet it falls back to a preallocated file.
final class SegmentPreparer: Sendable {
    private struct State {
        var ready: String?
        var preparing = false
        var counter = 0
    }

    /// Shared with the preparing thread's closure.
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    private let configuration: LogConfiguration
    private let shared = Shared()
    private let thread: BatchQueueThread<String>

    init(configuration: LogConfiguration, logger: Logger) {
        self.configuration = configuration
        let shared = shared
        let length = configuration.maxSegmentBytes + configuration.maxBlockBytes
        thread = BatchQueueThread(lowPriority: true) { paths in
            for path in paths {
                do {
                    let file = try POSIXFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
                    try file.writeZeros(0..<length)
                    shared.state.withLock {
                        $0.ready = path
                        $0.preparing = false
                    }
                } catch {
                    logger.warning("could not prepare the next segment file", metadata: ["error": "\(error)"])
                    try? FileSystem.remove(path)
                    shared.state.withLock { $0.preparing = false }
                }
            }
        }
        thread.start()
    }

    var segmentLength: Int { configuration.maxSegmentBytes + configuration.maxBlockBytes }

    /// Takes the prepared file if one is ready, and starts preparing the next one.
    func take() -> String? {
        let taken = shared.state.withLock { s -> String? in
            defer { s.ready = nil }
            return s.ready
        }
        prepareNext()
        return taken
    }

    /// Prepares a file now, on the caller's thread (for the first segment of a new log); nil if
    /// the disk has no room for it.
    func prepareNow() throws(LogError) -> String? {
        let name = shared.state.withLock { s -> String in
            s.counter += 1
            return "prepared-\(s.counter).tmp"
        }
        let path = configuration.logDirectory + "/" + name
        do {
            let file = try POSIXFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
            try file.writeZeros(0..<segmentLength)
            return path
        } catch {
            try? FileSystem.remove(path)
            guard error.code == .diskFull else { throw error }
            return nil
        }
    }

    /// Starts preparing a file unless one is ready or on its way.
    func prepareNext() {
        let name = shared.state.withLock { s -> String? in
            guard s.ready == nil, !s.preparing else { return nil }
            s.preparing = true
            s.counter += 1
            return "prepared-\(s.counter).tmp"
        }
        guard let name else { return }
        thread.submit(configuration.logDirectory + "/" + name)
    }

    /// Waits for a preparation in flight and removes an unused prepared file.
    func close() {
        thread.stop()
        if let path = shared.state.withLock({ s -> String? in
            defer { s.ready = nil }
            return s.ready
        }) {
            try? FileSystem.remove(path)
        }
    }
}
