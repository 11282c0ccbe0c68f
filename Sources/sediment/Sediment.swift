import ArgumentParser
import Logging

@main
struct Sediment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sediment",
        abstract: "Sediment: a log-structured, bi-temporal database.",
        subcommands: [ServeCommand.self, PutCommand.self, GetCommand.self, DeleteCommand.self, HistoryCommand.self, QueryCommand.self, Sample.self, Verify.self, Inspect.self, ReplayCommand.self, StatusCommand.self, UploadCommand.self, RestoreCommand.self, Bench.self, CrashWriter.self])
}

/// The CLI's logger: warnings and errors to standard error.
let cliLogger: Logger = {
    var logger = Logger(label: "sediment", factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = .warning
    return logger
}()

/// Common `--data` option.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "The data directory.")
    var data: String = "./sediment-data"
}
