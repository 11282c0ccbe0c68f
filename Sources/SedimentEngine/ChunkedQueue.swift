/// A first-in, first-out queue kept in chunks of fixed capacity.
///
/// The views' eviction queue holds an entry per key with superseded versions: millions at times
/// (it held one per superseded version, tens of millions, when this was written). As one array
/// it stalled every write twice over: each time it grew, the array moved every entry into
/// storage twice the size (a second and more on the writer at 20 million entries), and the first
/// append after a snapshot copied it whole, because the snapshot's copy of the views shared it.
/// Here an append moves nothing already queued and copies at most one chunk, taking from the
/// front frees whole chunks, and a copy shares every chunk.
struct ChunkedQueue<Element: Sendable>: Sendable {
    static var chunkCapacity: Int { 1 << 14 }

    /// The chunks; those before `firstChunk` were consumed and are empty.
    private var chunks: [[Element]] = []
    private var firstChunk = 0
    /// Where the next element to take is, in `chunks[firstChunk]`.
    private var position = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ element: Element) {
        if chunks.last.map({ $0.count == Self.chunkCapacity }) ?? true {
            var chunk: [Element] = []
            chunk.reserveCapacity(Self.chunkCapacity)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(element)
        count += 1
    }

    /// The oldest element.
    var first: Element? { count > 0 ? chunks[firstChunk][position] : nil }

    /// The newest element.
    var last: Element? { count > 0 ? chunks[chunks.count - 1].last : nil }

    /// Takes the oldest element.
    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = chunks[firstChunk][position]
        count -= 1
        position += 1
        if count == 0 {
            chunks.removeAll()
            firstChunk = 0
            position = 0
        } else if position == Self.chunkCapacity {
            chunks[firstChunk] = []
            firstChunk += 1
            position = 0
            // The list of chunks is small (a reference each); drop the consumed ones now and then.
            if firstChunk >= 1024, firstChunk * 2 >= chunks.count {
                chunks.removeFirst(firstChunk)
                firstChunk = 0
            }
        }
        return element
    }
}
