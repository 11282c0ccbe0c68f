package import NIOCore
package import SedimentEngine

/// The writes an event loop's connections send in one pass of the loop, committed as one group
/// on the loop once the pass is over (a task queued on the loop runs after the I/O it is
/// handling): one `pwrite` for the pass, on this thread, with no hop to the log's writer thread
/// (`Database.writeHere`). Durable writes are answered when the syncer's `fdatasync` covers
/// them; `durability=memory` ones at once, here. Writes of more than `maxOperationsHere`
/// operations (batches) go to the writer thread as before.
///
/// Syncing here too, as a single-threaded server does, was measured and dropped: the two loops'
/// `fdatasync`s on one file queue behind each other, and a loop blocked in one reads nothing
/// (16 connections: −25% requests/s).
package final class LoopWriteGroup: @unchecked Sendable {
    private let loop: any EventLoop
    private let database: Database
    /// Touched on `loop` only. The array of the group committed last is kept, emptied, for the
    /// next pass: grown from nothing every pass, it went through malloc's large-chunk path (most
    /// of `malloc_consolidate`'s 1% of the loop's samples at 64 connections).
    private var writes: [Database.GroupedWrite] = []
    private var spare: [Database.GroupedWrite] = []

    package init(loop: any EventLoop, database: Database) {
        self.loop = loop
        self.database = database
    }

    /// Writes of more operations go to the log's writer thread, where encoding and applying them
    /// overlaps this loop's reading (batches of 100 committed here: −3 to −23% requests/s).
    static let maxOperationsHere = 8

    /// Adds a write to this pass's group (on the loop), or hands a large one to the log's
    /// writer thread; its completion runs on the loop or on one of the log's threads.
    package func add(_ write: Database.GroupedWrite) {
        loop.preconditionInEventLoop()
        guard write.operations.count <= Self.maxOperationsHere else {
            do { try database.write(write.operations, acknowledge: write.acknowledge, completion: write.completion) } catch {
                write.completion(.failure(error))
            }
            return
        }
        writes.append(write)
        if writes.count == 1 { loop.execute { self.commit() } }
    }

    private func commit() {
        // Writes answered here may send the next ones of their connections: they start a new group.
        var group = writes
        writes = spare  // empty, with the capacity of the group before
        spare = []
        database.writeHere(group)
        group.removeAll(keepingCapacity: true)
        spare = group
    }
}
