#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// An object store in a local directory: a bucket for tests, and for a second disk standing in
/// for a bucket. Objects are files named by their keys (keys may contain `/`); writes go to a
/// temporary file that is synced and renamed (or hard-linked, for conditional puts), so a reader
/// never sees half an object.
public final class LocalDirectoryStore: ObjectStore {
    public let root: String
    private let uploads = Mutex<[String: (key: String, parts: [Int: [UInt8]])]>([:])
    private let counter = Atomic<Int>(0)

    public init(root: String) throws(ObjectStoreError) {
        self.root = root
        do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw ObjectStoreError(.io, "cannot create \(root): \(error)")
        }
    }

    /// The file of a key; keys that would escape the root or name a directory are refused.
    private func path(_ key: String) throws(ObjectStoreError) -> String {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, !key.hasSuffix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
            !key.utf8.contains(0)
        else {
            throw ObjectStoreError(.invalidArgument, "a local store cannot hold this key", key: key)
        }
        return root + "/" + key
    }

    public func get(_ key: String, range: Range<Int>?) async throws(ObjectStoreError) -> [UInt8] {
        try getBlocking(key, range: range)
    }

    public func getBlocking(_ key: String, range: Range<Int>?) throws(ObjectStoreError) -> [UInt8] {
        let p = try path(key)
        guard let data = FileManager.default.contents(atPath: p) else {
            throw ObjectStoreError(.notFound, "no such object", key: key, status: 404, s3Code: "NoSuchKey")
        }
        let bytes = [UInt8](data)
        guard let range else { return bytes }
        guard range.lowerBound >= 0, range.upperBound <= bytes.count, !range.isEmpty else {
            throw ObjectStoreError(
                .invalidArgument, "range \(range) is outside the object (\(bytes.count) bytes)", key: key, status: 416)
        }
        return Array(bytes[range])
    }

    public func put(_ key: String, _ body: [UInt8], ifNoneMatch: Bool) async throws(ObjectStoreError) {
        let p = try path(key)
        let dir = (p as NSString).deletingLastPathComponent
        let tmp = root + "/.tmp-\(getpid())-\(counter.add(1, ordering: .relaxed).newValue)"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw ObjectStoreError(.io, "cannot create \(tmp): \(String(cString: strerror(errno)))", key: key) }
            defer { close(fd) }
            var written = 0
            while written < body.count {
                let n = body.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, body.count - written) }
                guard n > 0 else { throw ObjectStoreError(.io, "write failed: \(String(cString: strerror(errno)))", key: key) }
                written += n
            }
            guard fsync(fd) == 0 else { throw ObjectStoreError(.io, "fsync failed: \(String(cString: strerror(errno)))", key: key) }
        } catch let error as ObjectStoreError {
            unlink(tmp)
            throw error
        } catch {
            unlink(tmp)
            throw ObjectStoreError(.io, "\(error)", key: key)
        }
        defer { unlink(tmp) }
        if ifNoneMatch {
            // link() fails if the name exists: an atomic create-if-absent.
            guard link(tmp, p) == 0 else {
                if errno == EEXIST { throw ObjectStoreError(.preconditionFailed, "the object already exists", key: key, status: 412) }
                throw ObjectStoreError(.io, "link failed: \(String(cString: strerror(errno)))", key: key)
            }
        } else {
            guard rename(tmp, p) == 0 else { throw ObjectStoreError(.io, "rename failed: \(String(cString: strerror(errno)))", key: key) }
        }
    }

    public func head(_ key: String) async throws(ObjectStoreError) -> ObjectInfo? {
        var st = stat()
        guard stat(try path(key), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return ObjectInfo(key: key, size: Int(st.st_size))
    }

    public func list(prefix: String, continuationToken: String?, maxKeys: Int) async throws(ObjectStoreError) -> ObjectListing {
        guard maxKeys > 0 else { throw ObjectStoreError(.invalidArgument, "maxKeys must be positive") }
        var keys: [String] = []
        let base = URL(fileURLWithPath: root)
        if let e = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey]) {
            for case let url as URL in e {
                guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
                let key = String(url.path.dropFirst(base.path.count + 1))
                guard !key.hasPrefix(".tmp-"), key.hasPrefix(prefix) else { continue }
                if let after = continuationToken, !after.utf8.lexicographicallyPrecedes(key.utf8) { continue }
                keys.append(key)
            }
        }
        keys.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let page = keys.prefix(maxKeys)
        var objects: [ObjectInfo] = []
        for key in page { if let info = try await head(key) { objects.append(info) } }
        return ObjectListing(objects: objects, nextContinuationToken: keys.count > maxKeys ? page.last : nil)
    }

    public func delete(_ key: String) async throws(ObjectStoreError) {
        let p = try path(key)
        guard unlink(p) == 0 || errno == ENOENT else {
            throw ObjectStoreError(.io, "unlink failed: \(String(cString: strerror(errno)))", key: key)
        }
    }

    public func createMultipartUpload(_ key: String) async throws(ObjectStoreError) -> String {
        _ = try path(key)
        let id = "upload-\(counter.add(1, ordering: .relaxed).newValue)"
        uploads.withLock { $0[id] = (key, [:]) }
        return id
    }

    public func uploadPart(_ key: String, uploadID: String, number: Int, _ body: [UInt8]) async throws(ObjectStoreError) -> String {
        guard (1...10_000).contains(number) else { throw ObjectStoreError(.invalidArgument, "part number \(number)", key: key) }
        let known = uploads.withLock { u -> Bool in
            guard u[uploadID]?.key == key else { return false }
            u[uploadID]!.parts[number] = body
            return true
        }
        guard known else { throw ObjectStoreError(.notFound, "no such upload \(uploadID)", key: key, s3Code: "NoSuchUpload") }
        return "\"part-\(number)-\(body.count)\""
    }

    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [UploadedPart]) async throws(ObjectStoreError) {
        guard let upload = uploads.withLock({ $0.removeValue(forKey: uploadID) }), upload.key == key else {
            throw ObjectStoreError(.notFound, "no such upload \(uploadID)", key: key, s3Code: "NoSuchUpload")
        }
        var body: [UInt8] = []
        for part in parts {
            guard let bytes = upload.parts[part.number], part.etag == "\"part-\(part.number)-\(bytes.count)\"" else {
                throw ObjectStoreError(.invalidArgument, "part \(part.number) was not uploaded as listed", key: key, s3Code: "InvalidPart")
            }
            body += bytes
        }
        try await put(key, body, ifNoneMatch: false)
    }

    public func abortMultipartUpload(_ key: String, uploadID: String) async throws(ObjectStoreError) {
        _ = uploads.withLock { $0.removeValue(forKey: uploadID) }
    }
}
