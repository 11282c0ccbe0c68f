import SedimentFormat
public import SedimentLog

/// How a `Database` is set up: its log, and the limits it enforces on writes.
public struct DatabaseConfiguration: Sendable {
    public var log: LogConfiguration
    /// How far ahead of this node's clock an operation's HLC may be.
    public var maxDriftMillis: UInt64 = 60_000
    /// Longest map name, in UTF-8 bytes.
    public var maxMapNameBytes = 256
    /// Longest key, in UTF-8 bytes.
    public var maxKeyBytes = 1024

    public init(directory: String) {
        log = LogConfiguration(directory: directory)
    }

    public init(log: LogConfiguration) {
        self.log = log
    }

    var clock: any WallClock { log.clock }
}
