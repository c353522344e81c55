/// A fixed-size zip structure (end record, central or local header) whose bytes were found to lie
/// inside the input when it was located, so its fields read without further checks.
struct ZipRecord {
    /// Exactly the record's bytes.
    let bytes: UnsafeRawBufferPointer

    /// The record of `length` bytes at `position` of `input`, or nil when it does not fit.
    init?(at position: Int, length: Int, in input: UnsafeRawBufferPointer) {
        guard position >= 0, length >= 0, position <= input.count, length <= input.count - position else { return nil }
        bytes = UnsafeRawBufferPointer(rebasing: input[position..<(position + length)])
    }

    func u16(_ offset: Int) -> UInt16 { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }

    /// True when the record starts with the 4-byte `signature`.
    func hasSignature(_ signature: UInt32) -> Bool { u32(0) == signature }
}

/// The signatures and fixed sizes of the zip structures (PKWARE APPNOTE 6.3.x, §4.3).
enum ZipLayout {
    static let localHeaderSignature: UInt32 = 0x0403_4B50
    static let centralHeaderSignature: UInt32 = 0x0201_4B50
    static let endSignature: UInt32 = 0x0605_4B50
    static let zip64EndSignature: UInt32 = 0x0606_4B50
    static let zip64LocatorSignature: UInt32 = 0x0706_4B50

    static let localHeaderSize = 30
    static let centralHeaderSize = 46
    static let endSize = 22
    static let zip64EndSize = 56
    static let zip64LocatorSize = 20
    /// The longest archive comment: the end record is searched for over this many bytes plus its own size.
    static let maxCommentLength = 65_535

    /// The ZIP64 extended information extra field's id.
    static let zip64ExtraID: UInt16 = 0x0001
    /// 16- and 32-bit fields holding these say "the value is in the ZIP64 record or extra field".
    static let marker16: UInt16 = 0xFFFF
    static let marker32: UInt32 = 0xFFFF_FFFF

    /// General-purpose flag bits.
    static let flagEncrypted: UInt16 = 1 << 0
    static let flagDataDescriptor: UInt16 = 1 << 3
    static let flagStrongEncryption: UInt16 = 1 << 6
    static let flagUTF8: UInt16 = 1 << 11
    static let flagMaskedHeaders: UInt16 = 1 << 13
    /// Method 0 (stored) is the only one read; 99 marks AES encryption.
    static let methodStored: UInt16 = 0
    static let methodAES: UInt16 = 99
}

/// A violation found while parsing, with the stored name of the entry at fault when there is one.
struct ZipFailure: Error {
    let violation: TorchZipViolation
    let entry: String?

    init(_ violation: TorchZipViolation, entry: String? = nil) {
        self.violation = violation
        self.entry = entry
    }
}

/// The extra fields of a header: `(id, size, data)` records that must tile the extra area exactly.
struct ZipExtraFields {
    let bytes: UnsafeRawBufferPointer

    /// The data of the field with `id` (nil when absent), or why the area is not a sequence of whole
    /// fields, or holds that field twice.
    func field(_ id: UInt16) -> Result<UnsafeRawBufferPointer?, ExtraFieldError> {
        var position = 0
        var found: UnsafeRawBufferPointer?
        while position < bytes.count {
            guard let head = ZipRecord(at: position, length: 4, in: bytes) else { return .failure(.partialHeader(at: position)) }
            let fieldID = head.u16(0)
            let size = Int(head.u16(2))
            guard let data = ZipRecord(at: position + 4, length: size, in: bytes) else {
                return .failure(.overrun(id: fieldID, size: size))
            }
            if fieldID == id {
                if found != nil { return .failure(.repeated(id: id)) }
                found = data.bytes
            }
            position += 4 + size
        }
        return .success(found)
    }

    enum ExtraFieldError: Error, CustomStringConvertible {
        case partialHeader(at: Int)
        case overrun(id: UInt16, size: Int)
        case repeated(id: UInt16)

        var description: String {
            switch self {
            case .partialHeader(let at): "extra field area ends inside a field header (at byte \(at))"
            case .overrun(let id, let size): "extra field 0x\(String(id, radix: 16)) of \(size) bytes runs past the extra area"
            case .repeated(let id): "extra field 0x\(String(id, radix: 16)) appears twice"
            }
        }
    }
}

/// The values a ZIP64 extended information field carries, in their fixed order, read only for the
/// header fields that hold the marker (APPNOTE §4.5.3).
struct Zip64Values {
    private let data: UnsafeRawBufferPointer?
    private var position = 0

    init(_ data: UnsafeRawBufferPointer?) { self.data = data }

    /// `value` itself, or the next 8 (or `width`) bytes of the ZIP64 field when `value` is the marker;
    /// nil when the field is absent or too short.
    mutating func resolve(_ value: UInt64, marker: UInt64, width: Int = 8) -> UInt64? {
        guard value == marker else { return value }
        guard let data, let field = ZipRecord(at: position, length: width, in: data) else { return nil }
        position += width
        return width == 8 ? field.u64(0) : UInt64(field.u32(0))
    }
}
