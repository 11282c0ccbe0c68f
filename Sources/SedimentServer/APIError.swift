public import Hummingbird
import NIOCore
import NIOHTTP1
import SedimentEngine
import SedimentFormat
import SedimentSync
import Synchronization

/// An error answer: a status and a JSON body `{"error": code, "message": text}`.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    /// Stable machine-readable code (`bad_request`, `unauthorized`, `not_found`, ...).
    public var code: String
    public var message: String
    /// Headers the answer carries besides the body's (a 405's `Allow`).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static func malformedJSON(_ error: JSON.ParseError) -> APIError { badRequest("malformed JSON: \(error)") }

    /// A request SwiftNIO's HTTP/1 decoder could not parse: 431 for headers over the limit, else 400.
    init(_ error: HTTPParserError) {
        self =
            error == .headerOverflow
            ? APIError(.init(code: 431), "headers_too_large", "the request's headers are larger than the limit")
            : APIError.badRequest("not a valid HTTP/1.1 request (\(error))")
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = json(body: body, status: status)
        response.headers.append(contentsOf: headers)
        return response
    }

    /// `{"error": code, "message": text}` and a newline.
    var body: ByteBuffer { jsonBody(.map(["error": .string(code), "message": .string(message)])) }

    init(_ error: AuthError) {
        self = error.status == 403 ? APIError(.forbidden, "forbidden", error.message) : APIError(.unauthorized, "unauthorized", error.message)
    }

    init(_ error: SyncError) {
        let status = HTTPResponse.Status(code: error.code)
        let code = switch error.code {
        case 400: "bad_request"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 413: "too_large"
        case 501: "not_implemented"
        case 503: "unavailable"
        case 507: "disk_full"
        default: "sync_error"
        }
        self = APIError(status, code, error.message)
    }

    init(_ error: EngineError) {
        switch error.code {
        case .invalidArgument: self = APIError(.badRequest, "bad_request", error.message)
        case .unavailable, .locked: self = APIError(.serviceUnavailable, "unavailable", error.message)
        case .diskFull: self = APIError(HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), "disk_full", error.message)
        case .corrupt: self = APIError(.internalServerError, "corrupt", "\(error)")
        case .io: self = APIError(.internalServerError, "io", "\(error)")
        }
    }

    /// Any error as an API error: ours, the engine's, Hummingbird's (no route: 404; body too
    /// large: 413), SwiftNIO's decoder's (a body that ends early: 400), anything else a 500 that
    /// says what it was.
    static func wrap(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as EngineError: return APIError(e)
        case let e as AuthError: return APIError(e)
        case let e as HTTPParserError: return APIError(e)  // a body that ends early or does not parse
        case is NIOTooManyBytesError: return APIError(.contentTooLarge, "too_large", "the request body is larger than the limit")
        case let e as HTTPError:
            let code = e.status == .notFound ? "not_found" : e.status == .methodNotAllowed ? "method_not_allowed" : "http_\(e.status.code)"
            return APIError(e.status, code, e.body ?? e.status.reasonPhrase)
        default: return APIError(.internalServerError, "internal", "\(error)")
        }
    }
}

/// Turns every error, including "no such route", into an `APIError` with its JSON body: a path
/// that a route has, asked with a method it does not take, is a 405 with `Allow`.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do { return try await next(request, context) } catch {
            var e = APIError.wrap(error)
            if error is HTTPError, e.status == .notFound || e.status == .methodNotAllowed {
                if let methods = routes.methods(request.uri.path), !methods.contains(request.method) {
                    let allow = methods.map(\.rawValue).joined(separator: ", ")
                    e = APIError(.methodNotAllowed, "method_not_allowed", "\(request.method) \(request.uri.path): this path takes \(allow)")
                    e.headers[.allow] = allow
                } else {
                    e.message = "no route \(request.method) \(request.uri.path)"
                }
            }
            throw e
        }
    }
}

/// The methods each route takes, by path pattern (a `:name` segment matches any one segment).
final class RouteTable: Sendable {
    private let routes = Mutex<[(pattern: [Substring], methods: [HTTPRequest.Method])]>([])

    func add(_ method: HTTPRequest.Method, _ path: String) {
        let pattern = path.split(separator: "/")
        routes.withLock { routes in
            if let i = routes.firstIndex(where: { $0.pattern == pattern }) {
                routes[i].methods.append(method)
            } else {
                routes.append((pattern, [method]))
            }
        }
    }

    /// The methods of the route whose pattern `path` matches, if any.
    func methods(_ path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/")
        return routes.withLock { routes in
            routes.first { route in
                route.pattern.count == segments.count && zip(route.pattern, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
            }?.methods
        }
    }
}
