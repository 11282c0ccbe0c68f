extension Array where Element: Sendable {
    /// `transform` of every element, at most `limit` running at once; results in element order.
    /// `onEach` is told how many have finished, as each finishes. The first failure is thrown
    /// (the rest are cancelled).
    public func concurrentMap<Result: Sendable>(
        limit: Int, onEach: (Int) -> Void = { _ in }, _ transform: @escaping @Sendable (Element) async throws -> Result
    ) async throws -> [Result] {
        var results = [Result?](repeating: nil, count: count)
        try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var next = 0
            func start() {
                guard next < count else { return }
                let (index, element) = (next, self[next])
                next += 1
                group.addTask { (index, try await transform(element)) }
            }
            for _ in 0..<Swift.max(limit, 1) { start() }
            var finished = 0
            while let (index, result) = try await group.next() {
                results[index] = result
                finished += 1
                onEach(finished)
                start()
            }
        }
        return results.map { $0! }
    }
}
