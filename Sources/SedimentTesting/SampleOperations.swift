public import SedimentFormat

/// Deterministic operations for tests and benchmarks.
public enum SampleOperations {
    /// A put whose value is derived from `key`, so a reader can check it without remembering it.
    public static func put(map: String = "m", key: String, valueSize: Int = 100, node: String = "test") -> Operation {
        Operation(
            map: map, key: key, kind: .put, value: .binary(payload(for: key, size: valueSize)),
            timestamp: HLCTimestamp(millis: 1, counter: 0, nodeId: node))
    }

    /// The bytes `put(key:valueSize:)` stores for `key`.
    public static func payload(for key: String, size: Int) -> [UInt8] {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        var rng = SplitMix64(seed: h)
        var out = [UInt8]()
        out.reserveCapacity(size)
        while out.count < size {
            let v = rng.next()
            withUnsafeBytes(of: v) { out.append(contentsOf: $0.prefix(size - out.count)) }
        }
        return out
    }

    /// A random operation of any kind, with optional fields set at random.
    public static func random(using rng: inout SplitMix64, index: Int) -> Operation {
        let kinds = OperationKind.allCases
        let kind = kinds[Int(rng.next() % UInt64(kinds.count))]
        let value: Value? =
            switch kind {
            case .put, .orAdd: .map(["n": .int(Int64(index)), "s": .string("v\(rng.next() % 1000)")])
            case .remove, .orRemove: nil
            }
        let validFrom: Int64? = rng.next() % 3 == 0 ? Int64(rng.next() % 1_000_000) - 500_000 : nil
        let validTo: Int64? = validFrom.map { $0 + Int64(rng.next() % 1000) + 1 }
        return Operation(
            map: "map\(rng.next() % 4)", key: "k\(rng.next() % 50)-ü", kind: kind, value: value,
            timestamp: HLCTimestamp(millis: rng.next() % 1_000_000, counter: UInt32(rng.next() % 10), nodeId: "n\(rng.next() % 3)"),
            validFrom: validFrom, validTo: validTo, ttlMillis: rng.next() % 4 == 0 ? rng.next() % 10000 : nil,
            tag: kind == .orAdd || kind == .orRemove ? "tag-\(rng.next())" : nil)
    }
}
