import Foundation
import NIOCore
import NIOHTTP1

/// The first handler of an HTTP connection: it finds where each request ends in the bytes the
/// socket gives, and hands the connection's `LoopRequestHandler` the requests it answers on the
/// event loop whole, as bytes, and writes their answers as bytes. SwiftNIO's HTTP/1 decoder and
/// encoder, the parts between them and the handler, and the headers as `String`s cost about 17 µs
/// of a PUT's ~27 µs of server CPU before the database on the 2-core VM (a handler here that
/// answered the same requests from their bytes took ~10 µs).
///
/// It only frames: everything else still goes to SwiftNIO's decoder, a whole request at a time
/// (so each reaches the handler after the ones before it): requests for the router, a request
/// whose body has not arrived whole (the rest follows as it comes, so the request timeout sees
/// it as before), and, once something is not plain HTTP/1.1 as written below, every byte from
/// there on (`passAll`), where the decoder's answer (400, 431) or the WebSocket upgrade takes over.
///
/// Plain means: a request line `METHOD SP /target SP HTTP/1.1`, lines ending in CRLF, header
/// names of token characters with the colon right after, values of visible characters, spaces
/// and tabs (no folded lines), a head within `maxHeadBytes`, at most one `Content-Length` of
/// digits, and no `Transfer-Encoding` or `Upgrade` (nor `Connection: upgrade`). A plain request
/// the handler does not take (`Expect`, `Connection: close`, a repeated `Authorization`, a route
/// of the router's) goes to the decoder.
final class RequestFramer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// A head not ended within this many bytes goes to the decoder, with the rest of the connection.
    static let maxHeadBytes = 16 * 1024
    /// Nor one not ended after this many reads: each read frames the head from its start again,
    /// so a head trickling in a byte at a time would cost its length squared.
    static let maxHeadReads = 4

    /// A request framed whole, as the handler receives it.
    struct Request {
        var method: HTTPMethod
        var target: String
        var authorization: String?
        /// Head and body, for passing it on to the decoder after all.
        var bytes: ByteBuffer
        var body: ByteBuffer
    }

    private var context: ChannelHandlerContext?
    /// The connection's handler, once its pipeline has one (it is added after the first request).
    /// Held strongly, and let go by whichever of the two leaves the pipeline first (as the
    /// pipeline's own references are): a weak reference gives the handler a side table, and every
    /// retain and release of it then took the runtime's slow path (3% of the event loop's samples
    /// under durable PUTs).
    var requests: LoopRequestHandler?
    /// Bytes not yet framed.
    private var buffer: ByteBuffer?
    /// Bytes of a request still to come that go to the decoder as they arrive.
    private var passing = 0
    /// Everything goes to the decoder from here on.
    private var passAll = false
    /// Reads that ended inside the same head.
    private var headReads = 0
    private var processing = false
    private var processAgain = false
    private var readHeld = false
    /// Bytes went on to the decoder since a read-complete last went after them.
    private var fired = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        requests = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !passAll else { return fire(unwrapInboundIn(data), context: context) }
        var bytes = unwrapInboundIn(data)
        if passing > 0 {
            let n = min(passing, bytes.readableBytes)
            passing -= n
            fire(bytes.readSlice(length: n)!, context: context)
            guard bytes.readableBytes > 0 else { return }
        }
        if buffer == nil { buffer = bytes } else { buffer!.writeBuffer(&bytes) }
        process()
    }

    /// Passed on only after bytes that went on: a read whose requests were all taken here has
    /// nothing for the handlers behind this one (each would pass it on to the end of the pipeline).
    func channelReadComplete(context: ChannelHandlerContext) {
        guard fired else { return }
        fired = false
        context.fireChannelReadComplete()
    }

    /// Called by the handler when it can take the next request (an answer was written).
    func resume() {
        process()
        // Outside a read from the socket: what went on to the decoder needs the read-complete
        // that makes Hummingbird's channel take it (as the handler's replay of held parts does).
        if let context { channelReadComplete(context: context) }
        if readHeld, !holdsReads {
            readHeld = false
            context?.read()
        }
    }

    /// Sends bytes of a request the handler passed on after all to the decoder.
    func pass(_ bytes: ByteBuffer) {
        guard let context else { return }
        fire(bytes, context: context)
    }

    private func fire(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        fired = true
        context.fireChannelRead(wrapInboundOut(bytes))
    }

    /// Writes an answer's bytes (the encoder's work done by the handler).
    func write(_ bytes: ByteBuffer, promise: EventLoopPromise<Void>?) {
        context?.writeAndFlush(wrapOutboundOut(.byteBuffer(bytes)), promise: promise)
    }

    private func process() {
        guard let context else { return }
        guard !processing else { return processAgain = true }
        processing = true
        defer { processing = false }
        repeat {
            processAgain = false
            frameRequests(context: context)
        } while processAgain
    }

    private func frameRequests(context: ChannelHandlerContext) {
        while !passAll, passing == 0, let b = buffer, b.readableBytes > 0 {
            if let requests, !requests.acceptsRequest { return }  // resumed after its answer
            switch Self.frame(b) {
            case .needMore:
                headReads += 1
                guard headReads >= Self.maxHeadReads else { return }
                passAll = true
            case .notPlain:
                passAll = true
            case .incomplete(let total):
                headReads = 0
                // The body is still arriving: the decoder takes this request as it comes.
                buffer = nil
                passing = total - b.readableBytes
                fire(b, context: context)
            case .whole(let head):
                headReads = 0
                var rest = b
                let bytes = rest.readSlice(length: head.total)!
                buffer = rest.readableBytes > 0 ? rest : nil
                if head.takeable, let method = head.method, let requests {
                    let request = Request(
                        method: method, target: bytes.getString(at: bytes.readerIndex + head.target.lowerBound, length: head.target.count)!,
                        authorization: head.authorization.map { authorization(in: bytes, at: $0) },
                        bytes: bytes, body: bytes.getSlice(at: bytes.readerIndex + head.length, length: head.total - head.length)!)
                    if requests.take(request) { continue }
                }
                fire(bytes, context: context)
            }
        }
        if passAll, let b = buffer {
            buffer = nil
            fire(b, context: context)
        }
    }

    /// The connection's last `Authorization` value. A client sends the same one with every
    /// request: the string made once serves the rest (making it again was an allocation and a
    /// UTF-8 check of the whole token for each request).
    private var lastAuthorization: String?

    private func authorization(in bytes: ByteBuffer, at range: Range<Int>) -> String {
        if var last = lastAuthorization, !range.isEmpty, last.utf8.count == range.count,
            last.withUTF8({ utf8 in bytes.withUnsafeReadableBytes { memcmp($0.baseAddress! + range.lowerBound, utf8.baseAddress!, range.count) == 0 } })
        {
            return last
        }
        let value = bytes.getString(at: bytes.readerIndex + range.lowerBound, length: range.count)!
        lastAuthorization = value
        return value
    }

    /// Framed bytes wait while the handler answers (it reads on once it has), as the decoder's
    /// parts waited in the handler before.
    private var holdsReads: Bool {
        guard let requests, let buffer, buffer.readableBytes > 0, !passAll, passing == 0 else { return false }
        return !requests.acceptsRequest
    }

    func read(context: ChannelHandlerContext) {
        if holdsReads { readHeld = true } else { context.read() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Half-closed: what is left goes to the decoder, which knows what an unfinished request
        // at the end of the input means.
        if case ChannelEvent.inputClosed = event, !passAll {
            passAll = true
            if let b = buffer {
                buffer = nil
                fire(b, context: context)
                channelReadComplete(context: context)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Framing

    struct Head {
        /// One the handler takes (nil: another).
        var method: HTTPMethod?
        /// Offsets in the request's bytes.
        var target: Range<Int>
        var authorization: Range<Int>?
        /// No header keeps the handler from taking it (`Expect`, `Connection: close`, a second `Authorization`).
        var takeable: Bool
        /// Of the head, up to and with its blank line.
        var length: Int
        /// Of the head and the body.
        var total: Int
    }

    enum Framing {
        case needMore
        /// Not plain HTTP/1.1: the decoder takes the rest of the connection.
        case notPlain
        /// The head is whole and the body not: `total` bytes in all.
        case incomplete(total: Int)
        case whole(Head)
    }

    static func frame(_ buffer: ByteBuffer) -> Framing {
        buffer.withUnsafeReadableBytes { frame($0) }
    }

    static func frame(_ b: UnsafeRawBufferPointer) -> Framing {
        let end = min(b.count, maxHeadBytes)
        // Request line.
        var i = 0
        while i < end, isToken(b[i]) { i += 1 }
        guard i < end else { return b.count < maxHeadBytes ? .needMore : .notPlain }
        guard b[i] == 0x20, i > 0 else { return .notPlain }
        let method = Self.method(b, 0..<i)
        let targetStart = i + 1
        i = targetStart
        while i < end, b[i] > 0x20, b[i] < 0x7F { i += 1 }
        guard i < end else { return b.count < maxHeadBytes ? .needMore : .notPlain }
        guard b[i] == 0x20, i > targetStart, b[targetStart] == UInt8(ascii: "/") else { return .notPlain }
        let target = targetStart..<i
        let version: StaticString = " HTTP/1.1\r\n"
        guard i + version.utf8CodeUnitCount <= end else { return b.count < maxHeadBytes ? .needMore : .notPlain }
        for (k, c) in UnsafeBufferPointer(start: version.utf8Start, count: version.utf8CodeUnitCount).enumerated() where b[i + k] != c {
            return .notPlain
        }
        i += version.utf8CodeUnitCount
        // Header lines.
        var contentLength: Int?
        var authorization: Range<Int>?
        var takeable = true
        while true {
            guard i + 1 < end else { return b.count < maxHeadBytes ? .needMore : .notPlain }
            if b[i] == 0x0D {
                guard b[i + 1] == 0x0A else { return .notPlain }
                i += 2
                break
            }
            let nameStart = i
            while i < end, isToken(b[i]) { i += 1 }
            guard i < end else { return b.count < maxHeadBytes ? .needMore : .notPlain }
            guard b[i] == UInt8(ascii: ":"), i > nameStart else { return .notPlain }
            let name = nameStart..<i
            i += 1
            while i < end, b[i] == 0x20 || b[i] == 0x09 { i += 1 }
            let valueStart = i
            var valueEnd = i
            while i < end, b[i] != 0x0D {
                let c = b[i]
                guard c >= 0x20 || c == 0x09, c != 0x7F else { return .notPlain }
                if c != 0x20, c != 0x09 { valueEnd = i + 1 }
                i += 1
            }
            guard i + 1 < end else { return b.count < maxHeadBytes ? .needMore : .notPlain }
            guard b[i + 1] == 0x0A else { return .notPlain }
            i += 2
            let value = valueStart..<valueEnd
            if equals(b, name, "content-length") {
                guard contentLength == nil, (1...12).contains(value.count), value.allSatisfy({ (0x30...0x39).contains(b[$0]) }) else { return .notPlain }
                contentLength = value.reduce(0) { $0 * 10 + Int(b[$1] - 0x30) }
            } else if equals(b, name, "transfer-encoding") || equals(b, name, "upgrade") {
                return .notPlain
            } else if equals(b, name, "connection") {
                if !equals(b, value, "keep-alive") {
                    if contains(b, value, "upgrade") { return .notPlain }
                    takeable = false
                }
            } else if equals(b, name, "expect") {
                takeable = false
            } else if equals(b, name, "authorization") {
                if authorization != nil { takeable = false }
                authorization = value
            }
        }
        let total = i + (contentLength ?? 0)
        guard total <= b.count else { return .incomplete(total: total) }
        return .whole(Head(method: method, target: target, authorization: authorization, takeable: takeable, length: i, total: total))
    }

    /// The methods the handler takes.
    private static func method(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> HTTPMethod? {
        if equals(b, r, "PUT", caseSensitive: true) { return .PUT }
        if equals(b, r, "GET", caseSensitive: true) { return .GET }
        if equals(b, r, "POST", caseSensitive: true) { return .POST }
        if equals(b, r, "DELETE", caseSensitive: true) { return .DELETE }
        return nil
    }

    private static func isToken(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// Whether the bytes in `r` are `text` (ASCII letters in any case unless `caseSensitive`).
    private static func equals(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ text: StaticString, caseSensitive: Bool = false) -> Bool {
        guard r.count == text.utf8CodeUnitCount else { return false }
        for k in 0..<r.count {
            let c = b[r.lowerBound + k], t = text.utf8Start[k]
            guard c == t || (!caseSensitive && c | 0x20 == t && t >= UInt8(ascii: "a") && t <= UInt8(ascii: "z")) else { return false }
        }
        return true
    }

    private static func contains(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard r.count >= n else { return false }
        return (r.lowerBound...(r.upperBound - n)).contains { equals(b, $0..<($0 + n), text) }
    }
}

/// `RequestFramer`'s framing, for `sediment bench http-floor`.
package enum PlainHTTP {
    /// The lengths of the whole plain HTTP/1.1 request at the start of `bytes`: its head (with
    /// the blank line) and head and body; nil if it has not all arrived or is not plain.
    package static func wholeRequest(_ bytes: UnsafeRawBufferPointer) -> (head: Int, total: Int)? {
        if case .whole(let head) = RequestFramer.frame(bytes) { (head.length, head.total) } else { nil }
    }
}
