import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import SedimentEngine
import SedimentFormat
import SedimentServer

/// The floor under `sediment serve`'s single-key writes on this machine: SwiftNIO on one event
/// loop, requests framed as the server's `RequestFramer` frames them, and an answer of fixed headers,
/// with no router, no authentication and no metrics. With `--data`, each request's body is first
/// written durably (one put of the body's bytes as a binary value, committed in the loop's
/// `LoopWriteGroup` as the server commits, and answered once `fdatasync` covers it); without it,
/// the answer is written at once. With `--json` too, the body is parsed as the server parses a
/// PUT's JSON value and that value is written: what a JSON value costs the log and the views
/// beyond a binary one is then in the floor as well. `Tools/bench-server.sh` runs each beside
/// Redis and the server, so the difference between them and `sediment serve` is what the server's
/// own request handling costs. Not a server for use: it takes any request to any path.
struct BenchHTTPFloor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http-floor",
        abstract: "A bare SwiftNIO HTTP/1.1 server for scale: fixed answers, or a durable write of each body (--data) first.")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free one; the address is printed).") var port = 0
    @Option(help: "A data directory: each request's body is written durably before its answer.") var data: String?
    @Flag(help: "With --data: write the body as the JSON value it holds (as a PUT does), not as bytes.") var json = false

    func validate() throws {
        if json, data == nil { throw ValidationError("--json needs --data") }
    }

    func run() throws {
        let database = try data.map { try Database.open(DatabaseConfiguration(directory: $0), logger: cliLogger) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        // One commit group for the loop, as the server has.
        let writes = database.map { (database: $0, group: LoopWriteGroup(loop: loop, database: $0)) }
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FloorHandler(writes: writes, json: json))
                }
            }
            .bind(host: host, port: port).wait()
        FileHandle.standardOutput.write(Data("listening on http://\(host):\(channel.localAddress?.port ?? port)\n".utf8))
        try channel.closeFuture.wait()
    }
}

/// Frames each request and answers it in order: at once, or when its write is durable. The
/// write's completion runs on the log's syncer thread, as the server's do.
private final class FloorHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let writes: (database: Database, group: LoopWriteGroup)?
    private let json: Bool
    private var pending: ByteBuffer?
    private var unflushed = false
    private var counter = 0
    private static let maxPending = 64 * 1024

    init(writes: (database: Database, group: LoopWriteGroup)?, json: Bool) {
        self.writes = writes
        self.json = json
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if pending == nil { pending = bytes } else { pending!.writeBuffer(&bytes) }
        while let buffer = pending, let lengths = buffer.withUnsafeReadableBytes({ PlainHTTP.wholeRequest($0) }) {
            var rest = buffer
            rest.moveReaderIndex(forwardBy: lengths.head)
            let body = rest.readBytes(length: lengths.total - lengths.head)!
            pending = rest.readableBytes > 0 ? rest : nil
            take(body, context: context)
        }
        if let buffer = pending, buffer.readableBytes > Self.maxPending { context.close(promise: nil) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard unflushed else { return }
        unflushed = false
        context.flush()
    }

    private func take(_ body: [UInt8], context: ChannelHandlerContext) {
        guard let writes else {
            context.write(wrapOutboundOut(Self.answer(lsn: 0, allocator: context.channel.allocator)), promise: nil)
            unflushed = true
            return
        }
        counter += 1
        // A body that is not JSON is written as bytes: the floor answers everything.
        let value = json ? (try? JSON.parse(body, maxDepth: ServerConfiguration.defaultMaxValueDepth)) ?? .binary(body) : .binary(body)
        let operation = Operation(map: "floor", key: "k\(counter)", kind: .put, value: value, timestamp: writes.database.makeTimestamp())
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        writes.group.add(.init([operation]) { result in
            // A failed write is a 500, which wrk counts as an error.
            let lsn = try? result.get().lastLSN
            @Sendable func send() {
                let (handler, context) = bound.value
                context.writeAndFlush(handler.wrapOutboundOut(Self.answer(lsn: lsn, allocator: context.channel.allocator)), promise: nil)
            }
            if loop.inEventLoop { send() } else { loop.execute { send() } }
        })
    }

    private static func answer(lsn: UInt64?, allocator: ByteBufferAllocator) -> ByteBuffer {
        let body = lsn.map { #"{"lsn":\#($0)}"# } ?? #"{"error":"internal"}"#
        var out = allocator.buffer(capacity: 160)
        out.writeStaticString(lsn == nil ? "HTTP/1.1 500 Internal Server Error" : "HTTP/1.1 200 OK")
        out.writeStaticString("\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ")
        out.writeString(String(body.utf8.count))
        out.writeStaticString("\r\nDate: Sun, 29 Nov 2026 00:00:00 GMT\r\nServer: sediment\r\n\r\n")
        out.writeString(body)
        return out
    }
}
