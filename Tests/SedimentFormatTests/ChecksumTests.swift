import SedimentFormat
import SedimentTesting
import Testing

@Suite struct ChecksumTests {
    @Test func crc32cKnownVectors() {
        // RFC 3720 (iSCSI) appendix B.4 and the classic check value.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Array(0..<32)) == 0x46DD_794E)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func hardwareAndPortablePathsAgreeAndChain() {
        var rng = SplitMix64(seed: 42)
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4097, 70_000] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let fast = CRC32C.checksum(bytes)
            let portable = bytes.withUnsafeBytes { CRC32C.portableChecksum($0) }
            #expect(fast == portable, "length \(length)")
            let split = length / 3
            let chained = bytes.withUnsafeBytes { raw in
                CRC32C.extend(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[..<split])), UnsafeRawBufferPointer(rebasing: raw[split...]))
            }
            #expect(chained == fast, "chained at \(split) of \(length)")
        }
    }

    @Test func sha256KnownVectors() {
        #expect(SHA256.hash(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hash([UInt8]()).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var h = SHA256()
        h.update(Array("ab".utf8))
        h.update(Array("c".utf8))
        #expect(h.finalize() == SHA256.hash(Array("abc".utf8)))
        let d = SHA256.hash(Array("abc".utf8))
        #expect(SHA256Digest(hex: d.hex) == d)
        #expect(SHA256Digest(hex: "zz") == nil)
    }

    @Test func merkleTreeFollowsRFC6962Shape() {
        let leaves = (0..<5).map { SHA256.hash([UInt8($0)]) }
        #expect(MerkleTree.root([leaves[0]]) == leaves[0])
        #expect(MerkleTree.root(Array(leaves[0..<2])) == MerkleTree.node(leaves[0], leaves[1]))
        // Three leaves split 2 + 1; five split 4 + 1.
        let three = MerkleTree.node(MerkleTree.node(leaves[0], leaves[1]), leaves[2])
        #expect(MerkleTree.root(Array(leaves[0..<3])) == three)
        let four = MerkleTree.node(MerkleTree.node(leaves[0], leaves[1]), MerkleTree.node(leaves[2], leaves[3]))
        #expect(MerkleTree.root(leaves) == MerkleTree.node(four, leaves[4]))
        // Order matters.
        #expect(MerkleTree.root(leaves.reversed()) != MerkleTree.root(leaves))
    }

    @Test(arguments: BlockCodec.allCases)
    func codecsRoundTripAndRejectDamage(codec: BlockCodec) throws {
        var rng = SplitMix64(seed: UInt64(codec.rawValue))
        let input = (0..<10_000).map { i in UInt8(truncatingIfNeeded: i % 7 == 0 ? rng.next() : UInt64(i % 13)) }
        var compressed: [UInt8] = []
        input.withUnsafeBytes { _ = codec.compress($0, appendingTo: &compressed) }
        var output: [UInt8] = []
        try compressed.withFormatBytes { raw throws(FormatError) in
            try codec.decompress(raw, uncompressedLength: input.count, into: &output)
        }
        #expect(output == input)
        // A wrong declared length never passes.
        #expect(throws: FormatError.self) {
            try compressed.withFormatBytes { raw throws(FormatError) in
                try codec.decompress(raw, uncompressedLength: input.count + 1, into: &output)
            }
        }
    }
}
