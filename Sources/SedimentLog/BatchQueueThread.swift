/// A thread that takes everything queued at once and hands it to `process`: the shape of the
/// syncer and acknowledger stages of the group commit.
final class BatchQueueThread<Item>: @unchecked Sendable {
    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var items: [Item] = []
    private var stopping = false
    private var stopped = false
    private var busy = false
    private let lowPriority: Bool
    private let process: @Sendable ([Item]) -> Void

    /// With `lowPriority` the thread runs at nice 10: background work that must not take the
    /// CPU from the writer and the appenders under load.
    init(lowPriority: Bool = false, _ process: @escaping @Sendable ([Item]) -> Void) {
        self.lowPriority = lowPriority
        self.process = process
    }

    func start() {
        startThread { [self] in
            if lowPriority { lowerCurrentThreadPriority() }
            run()
        }
    }

    /// Blocks until everything submitted so far is processed.
    func waitUntilIdle() {
        lock.lock()
        while !items.isEmpty || busy { lock.wait() }
        lock.unlock()
    }

    func submit(_ item: Item) {
        lock.withLock { items.append(item) }
        lock.signal()
    }

    func submit(contentsOf more: some Sequence<Item>) {
        lock.withLock { items.append(contentsOf: more) }
        lock.signal()
    }

    /// Processes what is queued, then stops the thread; returns when it has.
    func stop() {
        lock.lock()
        stopping = true
        lock.broadcast()
        while !stopped { lock.wait() }
        lock.unlock()
    }

    private func run() {
        var batch: [Item] = []
        while true {
            lock.lock()
            while items.isEmpty && !stopping { lock.wait() }
            if items.isEmpty {
                stopped = true
                lock.unlock()
                lock.broadcast()
                return
            }
            swap(&batch, &items)
            busy = true
            lock.unlock()
            process(batch)
            batch.removeAll(keepingCapacity: true)
            lock.withLock { busy = false }
            lock.broadcast()
        }
    }
}
