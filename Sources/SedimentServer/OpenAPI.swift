import Foundation

/// The API's OpenAPI 3 document (`openapi.json` beside this file), served at `/v1/openapi.json`.
enum OpenAPI {
    static let document: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { return #"{"error":"unavailable","message":"openapi.json is missing from this build"}"# }
        return text
    }()
}
