#if canImport(Glibc)
import Glibc
#endif
import Dispatch
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

    private let configuration: LogConfiguration
    private let logger: Logger
    private let queue = DispatchQueue(label: "sediment.segment-preparer")
    private let state = Mutex(State())

    init(configuration: LogConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    var segmentLength: Int { configuration.maxSegmentBytes + configuration.maxBlockBytes }

    /// Takes the prepared file if one is ready, and starts preparing the next one.
    func take() -> String? {
        let taken = state.withLock { s -> String? in
            defer { s.ready = nil }
            return s.ready
        }
        prepareNext()
        return taken
    }

    /// Prepares a file now, on the caller's thread (for the first segment of a new log).
    func prepareNow() throws(LogError) -> String {
        let name = state.withLock { s -> String in
            s.counter += 1
            return "prepared-\(s.counter).tmp"
        }
        let path = configuration.logDirectory + "/" + name
        let file = try POSIXFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.writeZeros(0..<segmentLength)
        return path
    }

    /// Starts preparing a file unless one is ready or on its way.
    func prepareNext() {
        let name = state.withLock { s -> String? in
            guard s.ready == nil, !s.preparing else { return nil }
            s.preparing = true
            s.counter += 1
            return "prepared-\(s.counter).tmp"
        }
        guard let name else { return }
        let path = configuration.logDirectory + "/" + name
        queue.async { [self] in
            do {
                let file = try POSIXFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
                try file.writeZeros(0..<segmentLength)
                state.withLock {
                    $0.ready = path
                    $0.preparing = false
                }
            } catch {
                logger.warning("could not prepare the next segment file", metadata: ["error": "\(error)"])
                try? FileSystem.remove(path)
                state.withLock { $0.preparing = false }
            }
        }
    }

    /// Waits for a preparation in flight and removes an unused prepared file.
    func close() {
        queue.sync {}
        if let path = state.withLock({ s -> String? in
            defer { s.ready = nil }
            return s.ready
        }) {
            try? FileSystem.remove(path)
        }
    }
}
