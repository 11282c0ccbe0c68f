import SedimentFormat

/// Whom an append answers: a task awaiting it, or a callback. A callback runs on the log's own
/// thread (the writer's, or the syncer's once fdatasync covers the append), so it must only hand
/// the result on; the server answers single-key writes from its event loop this way, without
/// a task in between.
enum AppendReply: Sendable {
    case task(UnsafeContinuation<AppendResult, any Error>)
    case callback(@Sendable (Result<AppendResult, LogError>) -> Void)

    func resume(returning result: AppendResult) {
        switch self {
        case .task(let c): c.resume(returning: result)
        case .callback(let f): f(.success(result))
        }
    }

    func resume(throwing error: LogError) {
        switch self {
        case .task(let c): c.resume(throwing: error)
        case .callback(let f): f(.failure(error))
        }
    }
}
