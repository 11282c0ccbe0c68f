import CCRC32C

/// CRC32C (Castagnoli), the checksum of every block, header and footer.
///
/// Uses the CPU's CRC instruction where there is one (SSE4.2 on x86-64, the CRC extension on
/// AArch64) and a slicing-by-8 table otherwise.
public enum CRC32C {
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        extend(0, bytes)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Continues a checksum: `extend(checksum(a), b) == checksum(a + b)`.
    public static func extend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        sediment_crc32c_extend(crc, bytes.baseAddress, bytes.count)
    }

    /// The table-driven path, whatever the CPU (for tests and comparison).
    public static func portableChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        sediment_crc32c_extend_portable(0, bytes.baseAddress, bytes.count)
    }
}
