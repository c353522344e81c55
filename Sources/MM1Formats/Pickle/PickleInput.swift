/// A failure of the pickle machine: the rule broken and the pickle byte of the opcode at fault.
package struct PickleFailure: Error, Sendable, Equatable {
    package let violation: PickleViolation
    package let offset: Int
    /// The dict keys under which the value being built sat, outermost first (`model.w`), when the
    /// stack shows them.
    package var keyPath: String?

    package init(violation: PickleViolation, offset: Int, keyPath: String? = nil) {
        self.violation = violation
        self.offset = offset
        self.keyPath = keyPath
    }

    package static func == (a: PickleFailure, b: PickleFailure) -> Bool { a.violation == b.violation && a.offset == b.offset }
}

/// The bytes of one pickle, read front to back; every length is checked against what is left.
struct PickleInput {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let limits: PickleLimits
    /// The start of the opcode being read, for errors.
    var opcodeStart = 0

    init(_ bytes: UnsafeRawBufferPointer, at position: Int = 0, limits: PickleLimits) {
        self.bytes = bytes
        self.position = position
        self.limits = limits
    }

    var remaining: Int { bytes.count - position }

    func fail(_ violation: PickleViolation) -> PickleFailure { PickleFailure(violation: violation, offset: opcodeStart) }

    mutating func byte(_ what: @autoclosure () -> String) throws(PickleFailure) -> UInt8 {
        guard position < bytes.count else { throw fail(.truncated(what())) }
        defer { position += 1 }
        return bytes[position]
    }

    /// The next `count` bytes (a view of the input).
    mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws(PickleFailure) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw fail(.truncated(what())) }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }

    /// A little-endian integer of `T`'s width.
    mutating func little<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(PickleFailure) -> T {
        let raw = try take(MemoryLayout<T>.size, what())
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }

    /// A declared length of a string or bytes: within the cap, then within the input.
    mutating func length(_ declared: UInt64, _ what: String) throws(PickleFailure) -> UnsafeRawBufferPointer {
        guard declared <= UInt64(limits.maxStringBytes) else { throw fail(.lengthLimit(length: declared, limit: limits.maxStringBytes)) }
        return try take(Int(declared), what)
    }

    /// The bytes up to the next newline (which is consumed), for protocol 0's text opcodes.
    mutating func line(_ what: String) throws(PickleFailure) -> UnsafeRawBufferPointer {
        let end = min(bytes.count, position + limits.maxStringBytes + 1)
        var i = position
        while i < end, bytes[i] != 0x0A { i += 1 }
        guard i < end else {
            if end < bytes.count { throw fail(.lengthLimit(length: UInt64(limits.maxStringBytes) + 1, limit: limits.maxStringBytes)) }
            throw fail(.truncated(what))
        }
        defer { position = i + 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<i])
    }

    /// A line as UTF-8 text.
    mutating func textLine(_ what: String) throws(PickleFailure) -> String {
        let raw = try line(what)
        guard let text = String(validating: raw, as: UTF8.self) else { throw fail(.badStructure("\(what) is not UTF-8")) }
        return text
    }

    /// UTF-8 bytes as a string, as BINUNICODE and friends decode them.
    func utf8(_ raw: UnsafeRawBufferPointer, _ what: String) throws(PickleFailure) -> String {
        guard let text = String(validating: raw, as: UTF8.self) else { throw fail(.badStructure("\(what) is not valid UTF-8")) }
        return text
    }
}

/// Protocol 0's text encodings of values, decoded without Python's evaluator.
enum PickleText {
    /// A decimal integer (INT, LONG, GET, PUT): an `Int`, or the little-endian bytes of a wider one.
    static func integer(_ raw: UnsafeRawBufferPointer) -> PickleValue? {
        var digits = Array(raw)
        if digits.last == UInt8(ascii: "L") { digits.removeLast() }
        let negative = digits.first == UInt8(ascii: "-")
        if negative || digits.first == UInt8(ascii: "+") { digits.removeFirst() }
        guard !digits.isEmpty, digits.count <= 4096, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        if let small = Int(String(decoding: (negative ? [UInt8(ascii: "-")] : []) + digits, as: UTF8.self)) { return .int(small) }
        // Base 10 to base 256, then two's complement.
        var magnitude: [UInt8] = [0]
        for d in digits {
            var carry = Int(d - 0x30)
            for i in magnitude.indices {
                let v = Int(magnitude[i]) * 10 + carry
                magnitude[i] = UInt8(v & 0xFF)
                carry = v >> 8
            }
            while carry > 0 { magnitude.append(UInt8(carry & 0xFF)); carry >>= 8 }
        }
        magnitude.append(0)
        if negative {
            var carry = 1
            for i in magnitude.indices {
                let v = Int(~magnitude[i]) + carry
                magnitude[i] = UInt8(v & 0xFF)
                carry = v >> 8
            }
        }
        return .bigInt(magnitude)
    }

    /// LONG1/LONG4's little-endian two's-complement bytes: an `Int` when they fit.
    static func integer(littleEndian raw: UnsafeRawBufferPointer) -> PickleValue {
        if raw.isEmpty { return .int(0) }
        let signFill: UInt8 = raw[raw.count - 1] & 0x80 != 0 ? 0xFF : 0
        if raw.count <= 8 || raw[8...].allSatisfy({ $0 == signFill }) && (raw[7] & 0x80) == (signFill & 0x80) {
            var value: UInt64 = signFill == 0 ? 0 : .max
            for (i, b) in raw.prefix(8).enumerated() {
                value &= ~(UInt64(0xFF) << (8 * i))
                value |= UInt64(b) << (8 * i)
            }
            return .int(Int(bitPattern: UInt(value)))
        }
        return .bigInt(Array(raw))
    }

    /// STRING's quoted Python literal, escapes decoded (`\\ \' \" \n \r \t \xHH`, octal, …).
    static func quoted(_ raw: UnsafeRawBufferPointer) -> [UInt8]? {
        guard raw.count >= 2, let q = raw.first, q == UInt8(ascii: "'") || q == UInt8(ascii: "\""), raw.last == q else { return nil }
        let body = Array(raw[1..<(raw.count - 1)])
        var out: [UInt8] = []
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        while i < body.count {
            let c = body[i]
            i += 1
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard i < body.count else { return nil }
            let e = body[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "a"): out.append(0x07)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "v"): out.append(0x0B)
            case UInt8(ascii: "\n"): break
            case UInt8(ascii: "x"):
                guard i + 1 < body.count, let h = hex(body[i]), let l = hex(body[i + 1]) else { return nil }
                out.append(h << 4 | l)
                i += 2
            case 0x30...0x37:
                var v = Int(e - 0x30)
                for _ in 0..<2 where i < body.count && (0x30...0x37).contains(body[i]) {
                    v = v * 8 + Int(body[i] - 0x30)
                    i += 1
                }
                out.append(UInt8(v & 0xFF))
            default: out.append(contentsOf: e == UInt8(ascii: "\\") || e == UInt8(ascii: "'") || e == UInt8(ascii: "\"") ? [e] : [0x5C, e])
            }
        }
        return out
    }

    /// UNICODE's raw-unicode-escape text: `\uXXXX` and `\UXXXXXXXX` escapes, other bytes Latin-1.
    static func rawUnicodeEscape(_ raw: UnsafeRawBufferPointer) -> String? {
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < raw.count {
            let c = raw[i]
            if c == UInt8(ascii: "\\"), i + 1 < raw.count, raw[i + 1] == UInt8(ascii: "u") || raw[i + 1] == UInt8(ascii: "U") {
                let width = raw[i + 1] == UInt8(ascii: "u") ? 4 : 8
                guard i + 2 + width <= raw.count,
                      let v = UInt32(String(decoding: raw[(i + 2)..<(i + 2 + width)], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(v) else { return nil }
                scalars.append(scalar)
                i += 2 + width
            } else {
                scalars.append(Unicode.Scalar(c))
                i += 1
            }
        }
        return String(scalars)
    }

    /// Bytes as text: UTF-8 when they are, Latin-1 otherwise (protocol 0–2 `str` of Python 2).
    static func latin1OrUTF8(_ bytes: [UInt8]) -> String {
        String(validating: bytes, as: UTF8.self) ?? String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}
