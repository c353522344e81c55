import CKernels
import Foundation
import Testing

/// The AVX2 activation and softmax kernels against the scalar formulas in f64, over a wide range of
/// inputs (the kernels return 0 on CPUs without AVX2/FMA, where the Swift code runs instead).
@Suite struct ActivationKernelTests {
    static let inputs: [Float] = (0..<4001).map { Float($0 - 2000) / 40 } + [-1e30, -100, -88.5, 88, 1e-30, 0, -0.0]

    @Test("quick_gelu, silu and sigmoid match the f64 formulas to the rounding of their f32 argument", arguments: [(Int32(0), 1.702), (1, 1.0), (2, 1.0)])
    func activations(_ kind: Int32, _ slope: Double) throws {
        var x = Self.inputs
        let done = mm1_activation(&x, x.count, kind)
        try #require(done == x.count || done == 0)
        guard done == x.count else { return }
        for (input, output) in zip(Self.inputs, x) {
            let z = Double(Float(slope)) * Double(input)
            let s = 1 / (1 + Foundation.exp(-z))
            let expected = kind == 2 ? s : Double(input) * s
            // The f32 product slope·x is rounded before the exp: |z| ulps of relative error, plus a few for the exp.
            // The kernel clamps exp's argument to keep results normal, so where the exact value is
            // subnormal or far below (x·σ at x ≲ −52) it may give up to ~1e-35 instead.
            let ulps = 4 + abs(z)
            #expect(abs(Double(output) - expected) <= ulps * Double(Float.ulpOfOne) * abs(expected) + 1e-35, "kind \(kind) at \(input)")
        }
    }

    @Test("softmax sums to one and matches the f64 formula, odd lengths included", arguments: [1, 7, 8, 9, 257])
    func softmax(_ n: Int) throws {
        var x = (0..<n).map { Float(($0 * 7919) % 97) / 3 - 16 }
        let input = x
        let done = mm1_softmax(&x, n)
        try #require(done == n || done == 0)
        guard done == n else { return }
        let m = Double(input.max()!)
        let sum = input.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
        for i in 0..<n {
            let expected = Foundation.exp(Double(input[i]) - m) / sum
            // f32 softmax rounds x − max before the exp (as torch does): |x − max| ulps of relative error, plus the sum's.
            let ulps = 8 + abs(Double(input[i]) - m)
            #expect(abs(Double(x[i]) - expected) <= ulps * Double(Float.ulpOfOne) * expected + 1e-38)
        }
    }
}
