/// The rules an entry name must follow: a relative path of plain components, nothing a file system or
/// another zip reader could read differently.
enum ZipEntryName {
    /// The name as a string, or why it is refused. `utf8Flag` is the entry's general-purpose bit 11:
    /// without it a zip reader decodes the name as code page 437, so only ASCII reads the same everywhere.
    static func validate(_ raw: UnsafeRawBufferPointer, utf8Flag: Bool) -> Result<String, TorchZipViolation> {
        func refuse(_ why: String) -> Result<String, TorchZipViolation> { .failure(.badEntryName(why)) }
        guard !raw.isEmpty else { return refuse("is empty") }
        if raw.contains(0) { return refuse("contains a NUL byte") }
        if raw.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return refuse("contains a control character") }
        if raw.contains(UInt8(ascii: "\\")) { return refuse("contains a backslash") }
        if !utf8Flag, raw.contains(where: { $0 >= 0x80 }) {
            return refuse("is not ASCII and the entry lacks the UTF-8 flag (readers would decode it as code page 437)")
        }
        guard let name = String(validating: raw, as: UTF8.self) else { return refuse("is not valid UTF-8") }
        if raw[0] == UInt8(ascii: "/") { return refuse("is absolute") }
        if raw.count >= 2, raw[1] == UInt8(ascii: ":"), (raw[0] | 0x20) >= UInt8(ascii: "a"), (raw[0] | 0x20) <= UInt8(ascii: "z") {
            return refuse("starts with a drive letter")
        }
        for component in raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            if component.elementsEqual("..".utf8) { return refuse("has a '..' component") }
            if component.isEmpty || component.elementsEqual(".".utf8) {
                return refuse("has an empty or '.' component (or is a folder entry)")
            }
        }
        return .success(name)
    }

    /// `raw` for messages: invalid UTF-8 replaced, control characters (a terminal escape sequence in a
    /// hostile name included) written as `\u{1B}`.
    static func printable(_ raw: UnsafeRawBufferPointer) -> String {
        var out = ""
        for scalar in String(decoding: raw, as: UTF8.self).unicodeScalars {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
