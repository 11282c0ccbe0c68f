import COpenSSL

/// A SHA-256 digest (32 bytes), stored inline.
public struct SHA256Digest: Sendable, Hashable, Comparable, CustomStringConvertible {
    // Four words keep the digest inline and cheap to compare and hash.
    private var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public static let zero = SHA256Digest(w0: 0, w1: 0, w2: 0, w3: 0)

    private init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// The first 32 bytes of `raw`.
    public init(_ raw: UnsafeRawBufferPointer) {
        precondition(raw.count >= 32, "a SHA-256 digest is 32 bytes")
        w0 = raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        w1 = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        w2 = raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        w3 = raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    public init?(hex: String) {
        guard hex.utf8.count == 64, let bytes = Hex.decode(hex) else { return nil }
        self = bytes.withUnsafeBytes { SHA256Digest($0) }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var copy = self
        return try Swift.withUnsafeBytes(of: &copy) { try body($0) }
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

    public static func < (lhs: SHA256Digest, rhs: SHA256Digest) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}

/// SHA-256 through libcrypto (OpenSSL's EVP interface).
public struct SHA256: ~Copyable {
    private let context: OpaquePointer

    public init() {
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        guard EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1 else { fatalError("EVP_DigestInit_ex(sha256) failed") }
        context = ctx
    }

    deinit { EVP_MD_CTX_free(context) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        _ = EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public mutating func update<T: FixedWidthInteger>(integer value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { update($0) }
    }

    public mutating func update(_ digest: SHA256Digest) {
        digest.withUnsafeBytes { update($0) }
    }

    public mutating func update(_ string: String) {
        var s = string
        s.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    public consuming func finalize() -> SHA256Digest {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return out.withUnsafeBytes { SHA256Digest($0) }
    }

    public static func hash(_ bytes: UnsafeRawBufferPointer) -> SHA256Digest {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = out.withUnsafeMutableBufferPointer {
            EVP_Digest(bytes.baseAddress, bytes.count, $0.baseAddress, &length, EVP_sha256(), nil)
        }
        return out.withUnsafeBytes { SHA256Digest($0) }
    }

    public static func hash(_ bytes: [UInt8]) -> SHA256Digest {
        bytes.withUnsafeBytes { hash($0) }
    }
}

/// HMAC-SHA256 through libcrypto.
public enum HMACSHA256 {
    public static func authenticate(key: [UInt8], message: [UInt8]) -> SHA256Digest {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBufferPointer { o in
                    _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.bindMemory(to: UInt8.self).baseAddress, m.count, o.baseAddress, &length)
                }
            }
        }
        return out.withUnsafeBytes { SHA256Digest($0) }
    }

    public static func authenticate(key: [UInt8], message: String) -> SHA256Digest {
        authenticate(key: key, message: Array(message.utf8))
    }
}
