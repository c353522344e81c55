import MM1Formats
@testable import MM1Tensor
import MM1TestSupport
import Testing

/// Conversions checked bit for bit against values produced by torch (floats) and numpy (integers);
/// see Tests/Fixtures/generate_fixtures.py.
@Suite struct DTypeConversionGoldenTests {
    static func load(_ name: String) throws -> (input: TensorView, expected: TensorView) {
        let file = try SafetensorsFile(path: Fixtures.path("dtypes/\(name).safetensors"))
        return (try file.view(named: "input"), try file.view(named: "expected"))
    }

    static func array<T: FixedWidthInteger>(_ view: TensorView, _: T.Type) -> [T] {
        view.withUnsafeBytes { raw in (0..<(raw.count / MemoryLayout<T>.size)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) } }
    }

    /// Bulk conversion of `input` (stored as `dtype`) to f32 bit patterns.
    static func bulkToF32Bits(_ input: TensorView, as dtype: DType) throws -> [UInt32] {
        let count = input.bytes.count / dtype.byteWidth!
        let floats = try [Float](unsafeUninitializedCapacity: count) { buffer, n in
            try DTypeConversion.toFloat32(input.bytes, dtype: dtype, into: buffer)
            n = count
        }
        return floats.map(\.bitPattern)
    }

    @Test("every f16 bit pattern converts to f32 as torch does (bulk and scalar)")
    func f16ToF32() throws {
        let (input, expected) = try Self.load("f16_to_f32")
        let want = Self.array(expected, UInt32.self)
        #expect(firstDifferences(try Self.bulkToF32Bits(input, as: .f16), want) == nil)
        let scalar = Self.array(input, UInt16.self).map(HalfPrecision.float32Bits(fromFloat16:))
        #expect(firstDifferences(scalar, want) == nil)
        var portable = [Float](repeating: 0, count: want.count)
        portable.withUnsafeMutableBufferPointer { DTypeConversion.portableHalfToFloat(input.bytes.baseAddress!, $0.baseAddress!, want.count) }
        #expect(firstDifferences(portable.map(\.bitPattern), want) == nil)
    }

    @Test("every bf16 bit pattern converts to f32 as torch does (bulk and scalar)")
    func bf16ToF32() throws {
        let (input, expected) = try Self.load("bf16_to_f32")
        let want = Self.array(expected, UInt32.self)
        #expect(firstDifferences(try Self.bulkToF32Bits(input, as: .bf16), want) == nil)
        #expect(firstDifferences(Self.array(input, UInt16.self).map(HalfPrecision.float32Bits(fromBFloat16:)), want) == nil)
    }

    @Test("every f8 bit pattern converts to f32 as torch does", arguments: [("f8e4m3_to_f32", DType.f8E4M3), ("f8e5m2_to_f32", .f8E5M2)])
    func f8ToF32(_ name: String, _ dtype: DType) throws {
        let (input, expected) = try Self.load(name)
        #expect(firstDifferences(try Self.bulkToF32Bits(input, as: dtype), Self.array(expected, UInt32.self)) == nil)
    }

    @Test("f32 rounds to narrow floats as torch does: ties to even, overflow, subnormals, NaN",
          arguments: [("f32_to_f16", DType.f16), ("f32_to_bf16", .bf16), ("f32_to_f8e4m3", .f8E4M3), ("f32_to_f8e5m2", .f8E5M2)])
    func f32ToNarrow(_ name: String, _ dtype: DType) throws {
        let (input, expected) = try Self.load(name)
        let bits = Self.array(input, UInt32.self)
        let floats = bits.map { Float(bitPattern: $0) }
        let width = dtype.byteWidth!
        var out = [UInt8](repeating: 0, count: floats.count * width)
        try floats.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBytes { try DTypeConversion.fromFloat32(src, to: dtype, into: $0) }
        }
        let inputs = bits.map(UInt64.init)
        if width == 2 {
            let got = out.withUnsafeBytes { raw in (0..<floats.count).map { raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self) } }
            #expect(firstDifferences(got, Self.array(expected, UInt16.self), inputs: inputs) == nil)
            let scalar = floats.map(dtype == .f16 ? HalfPrecision.float16Bits(fromFloat32:) : HalfPrecision.bfloat16Bits(fromFloat32:))
            #expect(firstDifferences(scalar, Self.array(expected, UInt16.self), inputs: inputs) == nil)
            if dtype == .f16 {
                var portable = [UInt16](repeating: 0, count: floats.count)
                floats.withUnsafeBufferPointer { src in portable.withUnsafeMutableBytes { DTypeConversion.portableFloatToHalf(src.baseAddress!, $0.baseAddress!, floats.count) } }
                #expect(firstDifferences(portable, Self.array(expected, UInt16.self), inputs: inputs) == nil)
            }
        } else {
            #expect(firstDifferences(out, Self.array(expected, UInt8.self), inputs: inputs) == nil)
        }
    }

    @Test("f64 and integers convert to f32 with round-to-nearest-even",
          arguments: [("f64_to_f32", DType.f64), ("int8_to_f32", .i8), ("uint8_to_f32", .u8), ("int16_to_f32", .i16),
                      ("uint16_to_f32", .u16), ("int32_to_f32", .i32), ("uint32_to_f32", .u32), ("int64_to_f32", .i64),
                      ("uint64_to_f32", .u64)])
    func wideToF32(_ name: String, _ dtype: DType) throws {
        let (input, expected) = try Self.load(name)
        #expect(firstDifferences(try Self.bulkToF32Bits(input, as: dtype), Self.array(expected, UInt32.self)) == nil)
    }

    @Test("bulk conversion of a large unaligned f16 buffer uses every core and agrees with the scalar path")
    func largeParallelMatchesScalar() throws {
        let count = DTypeConversion.parallelThreshold * 2 + 13
        var raw = [UInt8](repeating: 0, count: count * 2 + 1)
        for i in 0..<count {
            let h = UInt16(truncatingIfNeeded: i &* 40503)
            raw[1 + 2 * i] = UInt8(h & 0xFF)
            raw[2 + 2 * i] = UInt8(h >> 8)
        }
        let floats = try raw.withUnsafeBytes { bytes in
            try [Float](unsafeUninitializedCapacity: count) { buffer, n in
                try DTypeConversion.toFloat32(UnsafeRawBufferPointer(rebasing: bytes[1...]), dtype: .f16, into: buffer)
                n = count
            }
        }
        let want = (0..<count).map { HalfPrecision.float32Bits(fromFloat16: UInt16(truncatingIfNeeded: $0 &* 40503)) }
        #expect(firstDifferences(floats.map(\.bitPattern), want) == nil)
    }

    @Test("integers refuse NaN and out-of-range values with the element's index")
    func integerRangeChecks() throws {
        let values: [Float] = [1, 2.9, -3, 300]
        var out = [UInt8](repeating: 0, count: 4)
        #expect(throws: ConversionError.notRepresentable(.u8, index: 2, value: -3)) {
            try values.withUnsafeBufferPointer { s in try out.withUnsafeMutableBytes { try DTypeConversion.fromFloat32(s, to: .u8, into: $0) } }
        }
        var wide = [UInt8](repeating: 0, count: 8)
        try values.withUnsafeBufferPointer { s in try wide.withUnsafeMutableBytes { try DTypeConversion.fromFloat32(s, to: .i16, into: $0) } }
        let got = wide.withUnsafeBytes { raw in (0..<4).map { raw.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self) } }
        #expect(got == [1, 2, -3, 300])
    }

    @Test("sub-byte and exotic dtypes are refused by name")
    func unsupported() {
        var out = [Float](repeating: 0, count: 2)
        #expect(throws: ConversionError.unsupported(.f4)) {
            try out.withUnsafeMutableBufferPointer { try DTypeConversion.toFloat32(UnsafeRawBufferPointer(start: nil, count: 0), dtype: .f4, into: $0) }
        }
    }
}
