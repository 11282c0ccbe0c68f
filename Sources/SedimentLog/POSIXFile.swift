#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor with the few calls the log needs, each throwing a `LogError` that names the
/// file. Closed when the last reference goes away.
final class POSIXFile: Sendable {
    let fd: Int32
    let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(LogError) -> POSIXFile {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw errnoError("open", path) }
        return POSIXFile(fd: fd, path: path)
    }

    static func openReadOnly(_ path: String) throws(LogError) -> POSIXFile {
        try open(path, flags: O_RDONLY)
    }

    func size() throws(LogError) -> Int {
        Int(try identity().size)
    }

    /// Which file this is, with its size (the same path may name another file later).
    func identity() throws(LogError) -> FileIdentity {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Self.errnoError("fstat", path) }
        return FileIdentity(
            device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
            modified: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }

    /// Reads exactly `count` bytes at `offset` into `buffer` (replacing its contents), or fewer
    /// at the end of the file.
    func read(into buffer: inout [UInt8], count: Int, at offset: Int) throws(LogError) {
        if buffer.count != count {
            // No zero fill: pread overwrites it (and a short read trims it below).
            buffer = [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
        }
        var done = 0
        var failure: Int32 = 0
        buffer.withUnsafeMutableBytes { raw in
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if n == 0 { return }
                done += n
            }
        }
        if failure != 0 { throw Self.errnoError("pread", path, code: failure, offset: offset) }
        if done < count { buffer.removeLast(count - done) }
    }

    func read(count: Int, at offset: Int) throws(LogError) -> [UInt8] {
        var buffer: [UInt8] = []
        try read(into: &buffer, count: count, at: offset)
        return buffer
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(LogError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.errnoError("pwrite", path, offset: offset + done)
            }
            done += n
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(LogError) {
        var failure: LogError?
        bytes.withUnsafeBytes { raw in
            do throws(LogError) { try write(raw, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    func dataSync() throws(LogError) {
        #if os(Linux)
        let rc = fdatasync(fd)
        #else
        let rc = fsync(fd)
        #endif
        guard rc == 0 else { throw Self.errnoError("fdatasync", path) }
    }

    func sync() throws(LogError) {
        guard fsync(fd) == 0 else { throw Self.errnoError("fsync", path) }
    }

    /// Allocates disk blocks up to `length` bytes (the file reads as zeros past what is written).
    func preallocate(length: Int) throws(LogError) {
        let rc = posix_fallocate(fd, 0, off_t(length))
        guard rc == 0 else { throw Self.errnoError("posix_fallocate", path, code: rc, offset: length) }
    }

    /// Writes zeros over `range` and syncs. Overwriting blocks that are already written lets a
    /// later `fdatasync` skip the metadata journal commit that growing the file (or converting
    /// fallocated, unwritten extents) needs: about 100 µs instead of 180 µs on this ext4.
    /// Syncs every 4 MiB so the flush reaches the disk in small pieces, not one burst that
    /// would hold up the log's own syncs.
    ///
    /// The zeros go in 16 KiB writes: the page cache keeps a file's pages in folios as large as
    /// the writes that made them (ext4 since Linux 6.16), and each small append into a 1 MiB
    /// folio walked its 256 block buffers twice (`ext4_block_write_begin`,
    /// `block_commit_write`), as did the writeback of each `fdatasync`. With 1 MiB writes an
    /// append's `pwrite` was 6.1% of the event loops' CPU at 16 connections, with 16 KiB 2.6%;
    /// the fill costs ~40 ms of system CPU per 64 MiB segment instead of ~20.
    func writeZeros(_ range: Range<Int>) throws(LogError) {
        let chunk = [UInt8](repeating: 0, count: 16 << 10)
        var at = range.lowerBound
        var sinceSync = 0
        while at < range.upperBound {
            let n = min(chunk.count, range.upperBound - at)
            var failure: LogError?
            chunk.withUnsafeBytes { raw in
                do throws(LogError) { try write(UnsafeRawBufferPointer(rebasing: raw[..<n]), at: at) } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
            at += n
            sinceSync += n
            if sinceSync >= 4 << 20 {
                try dataSync()
                sinceSync = 0
            }
        }
        try dataSync()
    }

    func truncate(to length: Int) throws(LogError) {
        guard ftruncate(fd, off_t(length)) == 0 else { throw Self.errnoError("ftruncate", path, offset: length) }
    }

    /// Takes an exclusive advisory lock without waiting; false when another process holds it.
    func tryLock() -> Bool {
        flock(fd, LOCK_EX | LOCK_NB) == 0
    }

    func unlock() {
        flock(fd, LOCK_UN)
    }

    static func errnoError(_ call: String, _ path: String, code: Int32 = errno, offset: Int? = nil) -> LogError {
        LogError(
            code == ENOSPC || code == EDQUOT ? .diskFull : .io, "\(call) failed: \(String(cString: strerror(code))) (errno \(code))",
            path: path, offset: offset)
    }
}

/// Which file a descriptor is open on: device and inode, and since a deleted file's inode
/// number is soon given to a new one, its size and modification time.
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: Int64
}

/// Directory and path helpers (the public ones serve the layers above: tiering, restore).
public enum FileSystem {
    static func createDirectory(_ path: String) throws(LogError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw POSIXFile.errnoError("mkdir", path)
        }
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Names in a directory (no "." or "..").
    static func list(_ path: String) throws(LogError) -> [String] {
        guard let dir = opendir(path) else { throw POSIXFile.errnoError("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// fsync of a directory, so that creations and renames in it are durable.
    static func syncDirectory(_ path: String) throws(LogError) {
        let file = try POSIXFile.open(path, flags: O_RDONLY | O_DIRECTORY)
        try file.sync()
    }

    static func rename(_ from: String, _ to: String) throws(LogError) {
        guard Glibc.rename(from, to) == 0 else { throw POSIXFile.errnoError("rename to \(to)", from) }
    }

    static func remove(_ path: String) throws(LogError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw POSIXFile.errnoError("unlink", path) }
    }

    /// Writes a whole file (created or truncated) and fsyncs it.
    public static func writeDurably(_ bytes: [UInt8], to path: String) throws(LogError) {
        let file = try POSIXFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.write(bytes, at: 0)
        try file.sync()
    }

    /// Writes a whole file durably: temp file, fsync, rename, fsync of the directory. A temp file
    /// that fails is removed (on a full disk it would hold space).
    static func writeAtomically(_ bytes: [UInt8], to path: String, directory: String) throws(LogError) {
        try writeAtomically(to: path, directory: directory) { (file) throws(LogError) in try file.write(bytes, at: 0) }
    }

    /// Writes a file durably through a temp file (`temporary`, default `path.tmp`): `write` fills
    /// it, then fsync, rename over `path` and fsync of the directory. A temp file that fails is
    /// removed (on a full disk it would hold space; the next open removes one a crash leaves).
    /// Returns what `write` returns.
    @discardableResult
    static func writeAtomically<R>(
        to path: String, directory: String, temporary: String? = nil, _ write: (POSIXFile) throws(LogError) -> R
    ) throws(LogError) -> R {
        let tmp = temporary ?? path + ".tmp"
        let result: R
        do {
            let file = try POSIXFile.open(tmp, flags: O_WRONLY | O_CREAT | O_TRUNC)
            result = try write(file)
            try file.sync()
            try rename(tmp, path)
        } catch {
            try? remove(tmp)
            throw error
        }
        try syncDirectory(directory)
        return result
    }

    /// A whole file, read straight into an array (no zero fill, no second copy).
    public static func readWhole(_ path: String) throws(LogError) -> [UInt8] {
        let file = try POSIXFile.openReadOnly(path)
        return try file.read(count: try file.size(), at: 0)
    }
}
