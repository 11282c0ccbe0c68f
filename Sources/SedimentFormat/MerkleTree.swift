/// The Merkle tree over a segment's blocks, shaped as in RFC 6962 (Certificate Transparency):
/// leaves are `SHA-256(0x00 ‖ first LSN ‖ count ‖ payload)` (see `BlockCodecs.leafHash`), an
/// interior node is `SHA-256(0x01 ‖ left ‖ right)`, and a range of n leaves splits at the largest
/// power of two below n. The root of no leaves is SHA-256 of the empty string.
public enum MerkleTree {
    public static func root(_ leaves: [SHA256Digest]) -> SHA256Digest {
        if leaves.isEmpty { return SHA256.hash([UInt8]()) }
        return leaves.withUnsafeBufferPointer { root($0[...]) }
    }

    private static func root(_ leaves: Slice<UnsafeBufferPointer<SHA256Digest>>) -> SHA256Digest {
        if leaves.count == 1 { return leaves.first! }
        var split = 1
        while split << 1 < leaves.count { split <<= 1 }
        let mid = leaves.startIndex + split
        return node(root(leaves[..<mid]), root(leaves[mid...]))
    }

    public static func node(_ left: SHA256Digest, _ right: SHA256Digest) -> SHA256Digest {
        var h = SHA256()
        h.update([0x01])
        h.update(left)
        h.update(right)
        return h.finalize()
    }
}
