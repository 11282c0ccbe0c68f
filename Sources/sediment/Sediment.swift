import ArgumentParser

@main
struct Sediment: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sediment",
        abstract: "Sediment: a log-structured, bi-temporal database.",
        subcommands: [])
}
