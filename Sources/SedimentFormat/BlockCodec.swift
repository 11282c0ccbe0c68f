import CLZ4
import CZstd

/// How a block's payload is compressed. Stored as one byte in every block header.
public enum BlockCodec: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case lz4 = 1
    case zstd = 2

    public var description: String {
        switch self {
        case .none: "none"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }

    public init?(name: String) {
        switch name.lowercased() {
        case "none": self = .none
        case "lz4": self = .lz4
        case "zstd": self = .zstd
        default: return nil
        }
    }

    /// Compresses `input`, appending to `output`. Returns the number of bytes appended.
    /// `level` is zstd's level; for lz4 a negative level is an acceleration (faster, larger:
    /// active blocks are recompressed when sealed anyway).
    @discardableResult
    public func compress(_ input: UnsafeRawBufferPointer, appendingTo output: inout [UInt8], level: Int32 = 3) -> Int {
        let start = output.count
        switch self {
        case .none:
            output.append(contentsOf: input)
        case .lz4:
            let bound = Int(LZ4_compressBound(Int32(input.count)))
            output.append(contentsOf: repeatElement(0, count: bound))
            let written = output.withUnsafeMutableBytes { out in
                LZ4_compress_fast(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self),
                    (out.baseAddress! + start).assumingMemoryBound(to: CChar.self),
                    Int32(input.count), Int32(bound), level < 0 ? -level : 1)
            }
            precondition(written > 0 || input.count == 0, "LZ4_compress_default failed on \(input.count) bytes")
            output.removeLast(bound - Int(written))
        case .zstd:
            let bound = ZSTD_compressBound(input.count)
            output.append(contentsOf: repeatElement(0, count: bound))
            let written = output.withUnsafeMutableBytes { out in
                ZSTD_compress(out.baseAddress! + start, bound, input.baseAddress, input.count, level)
            }
            precondition(ZSTD_isError(written) == 0, "ZSTD_compress failed: \(String(cString: ZSTD_getErrorName(written)))")
            output.removeLast(bound - written)
        }
        return output.count - start
    }

    /// Decompresses `input` into `output` (resized to exactly `uncompressedLength`).
    /// Throws `.malformed` when the data does not decompress to exactly that length.
    public func decompress(
        _ input: UnsafeRawBufferPointer, uncompressedLength: Int, into output: inout [UInt8]
    ) throws(FormatError) {
        if output.count != uncompressedLength {
            // Every byte is overwritten below (or the call throws), so skip the zero fill.
            output = [UInt8](unsafeUninitializedCapacity: uncompressedLength) { _, n in n = uncompressedLength }
        }
        switch self {
        case .none:
            guard input.count == uncompressedLength else {
                throw FormatError(.malformed, "stored length \(input.count) differs from declared \(uncompressedLength)")
            }
            output.withUnsafeMutableBytes { $0.copyMemory(from: input) }
        case .lz4:
            let n = output.withUnsafeMutableBytes { out in
                LZ4_decompress_safe(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self),
                    out.baseAddress?.assumingMemoryBound(to: CChar.self),
                    Int32(input.count), Int32(uncompressedLength))
            }
            guard n == uncompressedLength else {
                throw FormatError(.malformed, "lz4 payload does not decompress to \(uncompressedLength) bytes (got \(n))")
            }
        case .zstd:
            let n = output.withUnsafeMutableBytes { out in
                ZSTD_decompress(out.baseAddress, uncompressedLength, input.baseAddress, input.count)
            }
            if ZSTD_isError(n) != 0 {
                throw FormatError(.malformed, "zstd: \(String(cString: ZSTD_getErrorName(n)))")
            }
            guard n == uncompressedLength else {
                throw FormatError(.malformed, "zstd payload decompresses to \(n) bytes, declared \(uncompressedLength)")
            }
        }
    }
}
