import Foundation
import Hummingbird
public import Logging
import Metrics
import NIOCore
import NIOPosix
public import SedimentEngine
public import SedimentSync
import SedimentLog
import SedimentObjectStore
import ServiceLifecycle

/// How `sediment serve` runs.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0: any free port (the listening address is reported).
    public var port = 8080
    public var database: DatabaseConfiguration
    /// HS256 secret for bearer tokens.
    public var jwtSecret: String
    public var rules: [AccessRule] = AccessRule.defaults
    /// `/health`, `/ready` and `/metrics` answer without a token.
    public var openHealth = true
    public var maxBodyBytes = 1 << 20
    public var maxBatchOperations = 1000
    /// Deepest nesting of a JSON value (arrays and objects).
    public var maxValueDepth = ServerConfiguration.defaultMaxValueDepth
    /// Connections open at once (HTTP, WebSocket and event streams alike); fewer if the open
    /// files limit leaves less room (`ConnectionLimit`). Further clients wait to be accepted.
    public var maxConnections = 10_000
    /// An HTTP connection that sends nothing this long while the server is not answering on it
    /// (waiting for the next request, or for the rest of one) is closed (nil: never). WebSocket
    /// sessions have their own (`sync.idleTimeout`).
    public var idleTimeout: Duration? = .seconds(300)
    /// A request whose body has not arrived whole this long after its head is answered 408 and
    /// its connection closed (nil: never). The idle timeout cannot end it while its bytes keep
    /// trickling in; the head itself is bounded by the idle timeout (nothing of it counts as
    /// activity until it is whole).
    public var requestTimeout: Duration? = .seconds(60)
    /// Threads that serve connections (SwiftNIO event loops): each connection stays on one, and
    /// each commits the writes of its connections' pass as one group (`LoopWriteGroup`).
    public var eventLoops = ServerConfiguration.defaultEventLoops
    /// Half the cores, at least one: the log's syncer thread takes a core's share of every
    /// durable write (its `fdatasync` and the acknowledgements). On the 2-core VM, one loop
    /// against two: durable PUTs +12 to +62% at 16 connections in interleaved pairs (each
    /// loop's pass gathers more writes into one group, with fewer thread switches per request),
    /// even to +27% at 64; but GETs 8–15% slower, bound by the one loop (BENCHMARKS.md,
    /// 2026-11-29 14:36). Read-heavy servers on few cores may want one loop per core.
    public static var defaultEventLoops: Int { max(1, System.coreCount / 2) }
    /// How deep a JSON value may nest unless configured (`maxValueDepth`).
    public static let defaultMaxValueDepth = 32
    /// The bucket tier, if any: uploads (with the RPO target) and cold reads.
    public var bucket: ColdBucket?
    public var uploadEvery = Duration.milliseconds(50)
    public var rpoTarget: Duration? = .seconds(1)
    public var retainLocalBytes: Int?
    /// The sync server's settings (its access rules and batch limit are the ones above).
    public var sync = SyncConfiguration()

    public init(dataDirectory: String, jwtSecret: String) {
        database = DatabaseConfiguration(directory: dataDirectory)
        self.jwtSecret = jwtSecret
    }
}

/// `sediment serve`: the database, the uploader, the HTTP server and the sync hub as services of
/// one service group, shut down in reverse order on SIGTERM or SIGINT: the sync sessions are
/// closed; the HTTP server stops accepting and drains its requests; the uploader seals the
/// active segment and makes a last pass; the database snapshots, syncs, seals and closes.
public enum Server {
    public static func run(
        _ configuration: ServerConfiguration, logger: Logger, onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }
    ) async throws {
        var databaseConfiguration = configuration.database
        databaseConfiguration.coldBucket = configuration.bucket
        // The process's metrics go to Prometheus (`/metrics`), Hummingbird's request metrics too.
        let metrics = ServerMetrics()
        MetricsSystem.bootstrap(metrics.factory)
        let database = try Database.open(databaseConfiguration, logger: logger)
        let uploader = configuration.bucket.map {
            Uploader(
                log: database.log, store: $0.store, layout: $0.layout, retainLocalBytes: configuration.retainLocalBytes,
                metricsFactory: metrics.factory, logger: logger)
        }
        var syncConfiguration = configuration.sync
        syncConfiguration.rules = configuration.rules
        syncConfiguration.maxBatchOperations = configuration.maxBatchOperations
        let reads = BlockingReads()
        let hub = SyncHub(
            database: database, verifier: JWTVerifier(secret: configuration.jwtSecret), configuration: syncConfiguration, uploader: uploader,
            scans: reads, logger: logger)
        let router = Router(context: BasicRequestContext.self)
        let log = database.log
        let connections = Connections(configured: configuration.maxConnections, databaseFiles: { log.segmentDescriptorsBound }, logger: logger)
        try connections.checkFileLimit()
        connections.warnIfLimitedByFiles()
        let api = API(
            database: database, configuration: configuration, uploader: uploader, metrics: metrics, hub: hub, connections: connections, reads: reads)
        api.register(router)
        let serverName = "sediment"
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops)
        let shared = LoopRequestHandler.Shared(
            serverName: serverName, database: database, idleTimeout: configuration.idleTimeout, requestTimeout: configuration.requestTimeout)
        let app = Application(
            router: router,
            server: SyncTransports.webSocket(
                hub: hub, maxFrameBytes: configuration.maxBodyBytes,
                http1: .init(additionalChannelHandlers: [LoopRequestHandler.install(api: api, shared: shared)]), shared: shared),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: serverName,
                availableConnectionsDelegate: connections.delegate),
            onServerRunning: { channel in
                let address = channel.localAddress
                onListening(address?.ipAddress ?? configuration.host, address?.port ?? configuration.port)
            },
            eventLoopGroupProvider: .shared(loops),
            logger: logger)
        // Shut down in reverse order: sync sessions closed (so streams and sockets end), the
        // HTTP server drained, the uploader's last pass, the database closed.
        var services: [any Service] = [DatabaseService(database: database, logger: logger)]
        if let uploader {
            services.append(
                UploaderService(uploader: uploader, log: database.log, every: configuration.uploadEvery, rpoTarget: configuration.rpoTarget, logger: logger))
        }
        services += [app, SyncService(hub: hub)] as [any Service]
        var failure: (any Error)?
        do {
            try await ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
        } catch {
            failure = error
        }
        await reads.shutdown()
        try? await loops.shutdownGracefully()
        if let failure { throw failure }
    }
}

/// Keeps the database open while the server runs; on shutdown (after the HTTP server and the
/// uploader stopped) commits what is queued, snapshots, syncs, seals and closes it.
struct DatabaseService: Service {
    let database: Database
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        try await database.close(sealActive: true)
        logger.info("database closed", metadata: ["lsn": "\(database.appliedLSN)"])
    }
}

/// Uploads continuously; on shutdown seals the active segment and makes one last pass, so the
/// bucket has everything written before the stop.
struct UploaderService: Service {
    let uploader: Uploader
    let log: SegmentedLog
    let every: Duration
    let rpoTarget: Duration?
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await uploader.run(every: every, rpoTarget: rpoTarget) }
        do {
            try await log.roll()
            try await log.waitForSealing()
            try await uploader.uploadPending()
        } catch {
            logger.warning("last upload before shutdown failed; the next start uploads it", metadata: ["error": "\(error)"])
        }
    }
}

/// Tails the log for the sync server's pushes until shutdown, then closes every session (1001)
/// so that WebSockets and event streams end before the HTTP server drains.
struct SyncService: Service {
    let hub: SyncHub

    func run() async throws {
        await cancelWhenGracefulShutdown { await hub.run() }
        hub.closeAll(code: 1001, reason: "server shutting down")
    }
}
