import MM1Tensor
import Testing

@Suite struct ShapeTests {
    @Test("element counts: scalar, zero-size, ordinary")
    func counts() throws {
        #expect(try Shape([]).elementCount == 1)
        #expect(try Shape([2, 0, 5]).elementCount == 0)
        #expect(try Shape([3, 4, 5]).elementCount == 60)
        #expect(try Shape([3, 5]).byteCount(of: .bf16) == 30)
        #expect(try Shape([3]).byteCount(of: .f4) == nil)
        #expect(try Shape([4]).byteCount(of: .f4) == 2)
    }

    @Test("overflowing products and negative dimensions are refused")
    func invalid() throws {
        #expect(throws: Shape.Invalid.elementCountOverflows) { try Shape([1 << 40, 1 << 40]) }
        #expect(throws: Shape.Invalid.negativeDimension(-1)) { try Shape([2, -1]) }
        #expect(try Shape([1 << 61]).byteCount(of: .f32) == nil)
    }

    @Test("dtype names, widths and the writer's alignment order")
    func dtypes() {
        #expect(DType(safetensorsName: "BF16") == .bf16)
        #expect(DType(safetensorsName: "bf16") == nil)
        #expect(DType.f8E4M3.byteWidth == 1)
        #expect(DType.f6E2M3.byteWidth == nil)
        #expect(DType.u64.alignmentRank > DType.f32.alignmentRank)
        #expect(DType.f32.alignmentRank > DType.bf16.alignmentRank)
        #expect(DType.allCases.count == 22)
    }
}
