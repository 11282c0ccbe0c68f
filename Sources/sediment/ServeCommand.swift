import ArgumentParser
import Foundation
import Logging
import NIOCore
import SedimentEngine
import SedimentFormat
import SedimentObjectStore
import SedimentServer
import SedimentSync
import Synchronization

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the database server: HTTP JSON API under /v1 (see /v1/openapi.json), health, readiness, status.",
        discussion: """
            With no flags: 127.0.0.1:8080, data in ./sediment-data, no bucket, and a development token \
            printed at start. Settings come from flags, then the environment (SEDIMENT_DATA, SEDIMENT_HOST, \
            SEDIMENT_PORT, SEDIMENT_JWT_SECRET), then --config FILE (see docs/configuration.md). \
            SIGTERM or SIGINT shuts down gracefully.
            """)

    @Option(help: "The data directory (default ./sediment-data).") var data: String?
    @Option(help: "Address to listen on (default 127.0.0.1).") var host: String?
    @Option(help: "Port (default 8080; 0 picks a free one).") var port: Int?
    @Option(help: "HS256 secret for bearer tokens (default: a random one, with a development token printed).") var jwtSecret: String?
    @Option(help: "Memory budget of the process, MiB (default: half of the memory of the machine or its cgroup; 0: none).")
    var memoryBudgetMb: Int?
    @Option(help: "Local retention with a bucket: keep this many MiB of sealed segments locally.") var retainLocalMb: Int?
    @Option(help: "Threads serving connections (default: half the cores, at least 1).") var eventLoops: Int?
    @OptionGroup var bucket: BucketOptions

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let settings = try bucket.resolved()
        let file = settings.file
        let envPort = try env["SEDIMENT_PORT"].map { text -> Int in
            guard let p = Int(text) else { throw ValidationError("SEDIMENT_PORT must be a port number, not \(text)") }
            return p
        }
        let dataDirectory = data ?? env["SEDIMENT_DATA"] ?? file.server.data ?? "./sediment-data"
        let givenSecret = jwtSecret ?? env["SEDIMENT_JWT_SECRET"] ?? file.server.jwtSecret
        let secret = givenSecret ?? Self.randomSecret()
        var config = ServerConfiguration(dataDirectory: dataDirectory, jwtSecret: secret)
        config.host = host ?? env["SEDIMENT_HOST"] ?? file.server.host ?? "127.0.0.1"
        config.port = port ?? envPort ?? file.server.port ?? 8080
        guard (0...65535).contains(config.port) else { throw ValidationError("port \(config.port) is not a port number") }
        config.openHealth = file.server.openHealth ?? true
        if let n = file.server.maxBodyBytes { config.maxBodyBytes = n }
        if let n = file.server.maxBatchOperations { config.maxBatchOperations = n }
        if let n = file.server.maxValueDepth { config.maxValueDepth = n }
        if let n = file.server.maxConnections { config.maxConnections = n }
        if let n = eventLoops ?? file.server.eventLoops { config.eventLoops = n }
        guard config.eventLoops >= 1 else { throw ValidationError("--event-loops must be at least 1, not \(config.eventLoops)") }
        if let ms = file.server.idleTimeoutMs { config.idleTimeout = ms == 0 ? nil : .milliseconds(ms) }
        if let ms = file.server.requestTimeoutMs { config.requestTimeout = ms == 0 ? nil : .milliseconds(ms) }
        if let rules = file.server.rules { config.rules = rules }
        if let ms = file.sync.idleTimeoutMs { config.sync.idleTimeout = .milliseconds(max(ms, 1)) }
        if let n = file.sync.maxQueuedMessages { config.sync.maxQueuedMessages = max(n, 1) }
        if let ms = file.sync.resetAfterMs { config.sync.resetAfterMillis = UInt64(ms) }
        if let ms = file.sync.fanoutIntervalMs { config.sync.fanoutInterval = .milliseconds(ms) }
        let (budgetMB, budgetFrom): (Int?, String) =
            if let mb = memoryBudgetMb {
                (mb, "--memory-budget-mb")
            } else if let mb = file.server.memoryBudgetMB {
                (mb, "config file")
            } else {
                (nil, "default: half of the available memory")
            }
        guard (budgetMB ?? 0) >= 0 else { throw ValidationError("the memory budget is \(budgetMB!) MiB; give a size, or 0 for none") }
        config.database.memoryBudgetBytes = budgetMB.map { $0 == 0 ? nil : $0 << 20 } ?? ProcessMemory.available().map { $0 / 2 }
        if settings.isGiven {
            config.bucket = ColdBucket(store: try settings.makeStore(), layout: settings.layout)
            config.retainLocalBytes = (retainLocalMb ?? settings.retainLocalMB).map { $0 << 20 }
        }

        var logger = Logger(label: "sediment", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = env["SEDIMENT_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        Self.raiseOpenFileLimit(logger: logger)
        logger.info(
            "memory budget",
            metadata: [
                "MiB": "\(config.database.memoryBudgetBytes.map { "\($0 >> 20)" } ?? "none")",
                "from": .string(budgetFrom),
            ])
        logger.info("event loops", metadata: ["count": "\(config.eventLoops)"])
        let devToken = givenSecret == nil ? JWTVerifier(secret: secret).sign(Principal(userId: "dev", roles: ["admin"])) : nil
        let listening = Atomic(false)
        do {
            try await Server.run(config, logger: logger) { host, port in
                listening.store(true, ordering: .relaxed)
                var lines = ["sediment: listening on http://\(host):\(port) (data \(dataDirectory))"]
                if let devToken {
                    lines.append("sediment: development token (admin; valid until this server stops): \(devToken)")
                    lines.append("sediment: try: curl -H 'Authorization: Bearer \(devToken)' -X PUT http://\(host):\(port)/v1/maps/demo/keys/hello -d '\"world\"'")
                }
                // Unbuffered: whoever started the server waits for this line.
                FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
            }
        } catch let error as IOError where !listening.load(ordering: .relaxed) {
            // Before the server listens, a system call that fails is the bind or listen.
            let hint = error.errnoCode == EADDRINUSE ? " (another server? pick another --port, or 0 for a free one)" : ""
            Output.standardError("error: cannot listen on \(config.host):\(config.port): \(Output.reason(error))\(hint)")
            throw ExitCode(1)
        }
    }

    /// Raises the soft limit on open files to the hard one, as Redis does for its clients: each
    /// connection is a descriptor, and a soft limit of 1,024 (a common default) would turn
    /// clients away long before memory runs out. The server says so if the limit holds it
    /// below `maxConnections` (`Connections`).
    private static func raiseOpenFileLimit(logger: Logger) {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return }
        let before = limit.rlim_cur
        // The kernel caps descriptors at nr_open (2^20 by default) whatever the hard limit says.
        let target = min(limit.rlim_max, 1 << 20)
        if before < target {
            limit.rlim_cur = target
            if setrlimit(resource, &limit) == 0 {
                logger.info("raised the open files limit", metadata: ["from": "\(before)", "to": "\(target)"])
            }
        }
    }

    private static func randomSecret() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }
}
