import SedimentFormat
import Testing

@Suite struct ValueTests {
    @Test func literals() {
        let null: Value = nil
        let bool: Value = true
        let int: Value = -42
        let double: Value = 2.5
        let string: Value = "hi"
        let array: Value = [1, "two", nil]
        let map: Value = ["a": 1, "b": [true]]
        #expect(null == .null)
        #expect(bool == .bool(true))
        #expect(int == .int(-42))
        #expect(double == .double(2.5))
        #expect(string == .string("hi"))
        #expect(array == .array([.int(1), .string("two"), .null]))
        #expect(map == .map(["a": .int(1), "b": .array([.bool(true)])]))
    }

    @Test func description() {
        let value: Value = ["b": .binary([0, 1, 2, 3]), "a": [1, -2.5, "x\n\"\\\u{1}", nil, false]]
        #expect(value.description == #"{"a":[1,-2.5,"x\n\"\\\u0001",null,false],"b":b64:AAECAw==}"#)
        #expect(Value.binary(Array("Man".utf8)).description == "b64:TWFu")
        #expect(Value.binary(Array("Ma".utf8)).description == "b64:TWE=")
        #expect(Value.binary([]).description == "b64:")
        #expect(Value.double(.infinity).description == "inf")
        #expect(Value.int(.min).description == "-9223372036854775808")
        #expect(Value.map([:]).description == "{}")
        #expect(Value.array([]).description == "[]")
        #expect(Value.string("é😀").description == "\"é😀\"")
        // Keys render in UTF-8 byte order.
        #expect(Value.map(["f": 1, "e\u{301}": 2, "Z": 3]).description == "{\"Z\":3,\"e\u{301}\":2,\"f\":1}")
    }

    @Test func hashable() {
        let set: Set<Value> = [1, 1, "1", [1], ["1": 1], .binary([1]), 1.0]
        #expect(set.count == 6)
    }
}
