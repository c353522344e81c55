/// Compares two bit-pattern arrays and describes the first few differences, for test messages.
public func firstDifferences<T: FixedWidthInteger>(
    _ actual: [T], _ expected: [T], inputs: [UInt64]? = nil, limit: Int = 5
) -> String? {
    guard actual.count == expected.count else { return "count \(actual.count) ≠ expected \(expected.count)" }
    var lines: [String] = []
    var total = 0
    for i in 0..<actual.count where actual[i] != expected[i] {
        total += 1
        if lines.count < limit {
            let input = inputs.map { " input 0x" + String($0[i], radix: 16) } ?? ""
            lines.append("[\(i)]\(input): got 0x\(String(actual[i], radix: 16)), expected 0x\(String(expected[i], radix: 16))")
        }
    }
    return total == 0 ? nil : "\(total) of \(actual.count) differ; first: " + lines.joined(separator: "; ")
}
