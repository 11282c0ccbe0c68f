/// What a listing or `head` says about one object.
public struct ObjectInfo: Sendable, Hashable {
    public var key: String
    public var size: Int
    public var etag: String?

    public init(key: String, size: Int, etag: String? = nil) {
        self.key = key
        self.size = size
        self.etag = etag
    }
}

/// One page of a listing, in key order (UTF-8 byte order, as S3).
public struct ObjectListing: Sendable {
    public var objects: [ObjectInfo]
    /// Pass it back to get the next page; nil on the last page.
    public var nextContinuationToken: String?

    public init(objects: [ObjectInfo], nextContinuationToken: String?) {
        self.objects = objects
        self.nextContinuationToken = nextContinuationToken
    }
}

/// A part of a multipart upload, as completed.
public struct UploadedPart: Sendable, Hashable {
    public var number: Int
    public var etag: String

    public init(number: Int, etag: String) {
        self.number = number
        self.etag = etag
    }
}

/// An S3-shaped object store: the bucket tier's only view of storage. Keys are UTF-8 strings
/// (`/` has no special meaning beyond listing prefixes); objects are immutable byte strings.
public protocol ObjectStore: Sendable {
    /// The object's bytes, or the bytes in `range` (which must lie within the object).
    /// Throws `.notFound` if there is no such object.
    func get(_ key: String, range: Range<Int>?) async throws(ObjectStoreError) -> [UInt8]
    /// `get` for callers that must not suspend (the engine's cold reads, which serve
    /// synchronous reads): blocks the calling thread, never needs another cooperative thread.
    func getBlocking(_ key: String, range: Range<Int>?) throws(ObjectStoreError) -> [UInt8]
    /// Stores an object. With `ifNoneMatch`, only if no object has that key (else
    /// `.preconditionFailed`): how immutable objects and the manifest are published.
    func put(_ key: String, _ body: [UInt8], ifNoneMatch: Bool) async throws(ObjectStoreError)
    /// Size and ETag, or nil if absent.
    func head(_ key: String) async throws(ObjectStoreError) -> ObjectInfo?
    /// Up to `maxKeys` objects whose keys start with `prefix`, after `continuationToken`.
    func list(prefix: String, continuationToken: String?, maxKeys: Int) async throws(ObjectStoreError) -> ObjectListing
    /// Removes an object; removing an absent one succeeds.
    func delete(_ key: String) async throws(ObjectStoreError)

    func createMultipartUpload(_ key: String) async throws(ObjectStoreError) -> String
    /// Uploads part `number` (1...10000) and returns its ETag.
    func uploadPart(_ key: String, uploadID: String, number: Int, _ body: [UInt8]) async throws(ObjectStoreError) -> String
    func completeMultipartUpload(_ key: String, uploadID: String, parts: [UploadedPart]) async throws(ObjectStoreError)
    func abortMultipartUpload(_ key: String, uploadID: String) async throws(ObjectStoreError)
}

extension ObjectStore {
    public func get(_ key: String) async throws(ObjectStoreError) -> [UInt8] {
        try await get(key, range: nil)
    }

    public func put(_ key: String, _ body: [UInt8]) async throws(ObjectStoreError) {
        try await put(key, body, ifNoneMatch: false)
    }

    /// Every object under `prefix`, following continuation tokens.
    public func listAll(prefix: String, pageSize: Int = 1000) async throws(ObjectStoreError) -> [ObjectInfo] {
        var all: [ObjectInfo] = []
        var token: String?
        repeat {
            let page = try await list(prefix: prefix, continuationToken: token, maxKeys: pageSize)
            all += page.objects
            token = page.nextContinuationToken
        } while token != nil
        return all
    }

    /// Stores a large object: one PUT up to `partSize`, a multipart upload above it (parts of
    /// `partSize`, `parallel` in flight; the upload is aborted if a part fails).
    public func putLarge(_ key: String, _ body: [UInt8], partSize: Int = 16 << 20, parallel: Int = 4) async throws(ObjectStoreError) {
        guard body.count > partSize else { return try await put(key, body) }
        let uploadID = try await createMultipartUpload(key)
        let ranges = stride(from: 0, to: body.count, by: partSize).map { $0..<min($0 + partSize, body.count) }
        do {
            let parts = try await Array(ranges.enumerated()).concurrentMap(limit: parallel) { (i, range) in
                UploadedPart(number: i + 1, etag: try await uploadPart(key, uploadID: uploadID, number: i + 1, Array(body[range])))
            }
            try await completeMultipartUpload(key, uploadID: uploadID, parts: parts)
        } catch {
            try? await abortMultipartUpload(key, uploadID: uploadID)
            throw (error as? ObjectStoreError) ?? ObjectStoreError(.connection, "\(error)", key: key)
        }
    }
}
