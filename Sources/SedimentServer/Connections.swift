import Foundation
import HummingbirdCore
import Logging
import Synchronization

/// How many connections the server holds open at once (HTTP, WebSocket and event streams
/// alike), and how many are open.
///
/// Every connection is a file descriptor, and so are some of the log's segments (the unsealed
/// ones, and up to a fixed number of sealed ones: `SegmentedLog.segmentDescriptorsBound`). A process
/// out of descriptors does not fail politely: the log cannot roll to a new segment, and on Linux
/// Swift's runtime traps (libdispatch's worker-pool monitor reads `/proc/PID/stat` of its
/// threads and takes a failed `open` for a thread that died). So the server takes at most
/// `ServerConfiguration.maxConnections`, and never more than the open files limit leaves after
/// the log's segments and a reserve for the rest of the process (snapshots, sealing, the
/// bucket's connections, the runtime). Once at the limit it stops accepting: further clients
/// wait in the listen backlog until a connection closes (Hummingbird's
/// `AvailableConnectionsDelegate`), and the server says so in its log, at most every 10 s.
public final class Connections: Sendable {
    /// Descriptors kept for the process besides connections and the log's segments.
    static let reserve = 128
    private let configured: Int
    private let fileLimit: Int
    private let databaseFiles: @Sendable () -> Int
    private let logger: Logger
    private let state = Mutex<(open: Int, lastWarning: ContinuousClock.Instant?)>((0, nil))

    /// `databaseFiles`: the most descriptors the database's segments hold now.
    init(configured: Int, fileLimit: Int = Connections.openFilesLimit(), databaseFiles: @escaping @Sendable () -> Int, logger: Logger) {
        self.configured = configured
        self.fileLimit = fileLimit
        self.databaseFiles = databaseFiles
        self.logger = logger
    }

    /// The soft limit on open files (`RLIMIT_NOFILE`), or `Int.max` if there is none
    /// (`RLIM_INFINITY`, all ones).
    static func openFilesLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return .max }
        return Int(clamping: limit.rlim_cur)
    }

    /// Connections open now.
    public var open: Int { state.withLock { $0.open } }

    /// The most connections taken at once now (it falls while segments wait to be sealed).
    public var limit: Int {
        let room = fileLimit == .max ? Int.max : fileLimit - Self.reserve - databaseFiles()
        return max(1, min(configured, room))
    }

    /// Refuses to start if the open files limit leaves no room for a connection after the log's
    /// segments and the reserve: the server would run out of descriptors at once (SwiftNIO's
    /// event loops trap when their `eventfd` cannot be opened) or soon after (a roll fails).
    func checkFileLimit() throws(TooFewOpenFiles) {
        guard fileLimit != .max else { return }
        let needed = Self.reserve + databaseFiles() + 1
        guard fileLimit >= needed else { throw TooFewOpenFiles(limit: fileLimit, needed: needed, reserve: Self.reserve) }
    }

    public struct TooFewOpenFiles: Error, CustomStringConvertible {
        public let limit: Int, needed: Int, reserve: Int

        public var description: String {
            "the open files limit is \(limit), and the server needs at least \(needed): the log's segment files, a reserve of \(reserve) for the rest of the process, and one connection; raise it (ulimit -n, systemd LimitNOFILE=)"
        }
    }

    /// Says so at start if the open files limit holds the server below `maxConnections`.
    func warnIfLimitedByFiles() {
        let limit = limit
        guard limit < configured else { return }
        logger.warning(
            "at most \(limit) connections at once: the open files limit is \(fileLimit), and the log's segments and a reserve of \(Self.reserve) need descriptors too; raise it (ulimit -n, systemd LimitNOFILE=) to take up to server.maxConnections (\(configured))"
        )
    }

    /// Whether to accept another connection; at the limit, says so (at most every 10 s).
    fileprivate func accepting() -> Bool {
        let limit = limit
        let (open, warn) = state.withLock { state -> (Int, Bool) in
            guard state.open >= limit else { return (state.open, false) }
            let now = ContinuousClock.now
            if let last = state.lastWarning, now - last < .seconds(10) { return (state.open, false) }
            state.lastWarning = now
            return (state.open, true)
        }
        if warn {
            logger.warning(
                "\(open) connections open, the most this server takes at once (server.maxConnections \(configured), open files limit \(fileLimit == .max ? "none" : String(fileLimit))); new clients wait until one closes"
            )
        }
        return open < limit
    }

    fileprivate func opened() { state.withLock { $0.open += 1 } }
    fileprivate func closed() { state.withLock { $0.open -= 1 } }

    /// Hummingbird's hook on the listening socket: counts connections, and stops accepting at
    /// the limit.
    var delegate: some AvailableConnectionsDelegate { Delegate(connections: self) }

    private struct Delegate: AvailableConnectionsDelegate {
        let connections: Connections
        mutating func connectionOpened() { connections.opened() }
        mutating func connectionClosed() { connections.closed() }
        func isAcceptingNewConnections() -> Bool { connections.accepting() }
    }
}
