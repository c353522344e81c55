import CHDF5
import Foundation
import MM1Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// HDF5 weight files (h5py: one dataset per tensor, dotted names or nested groups), read through libhdf5
/// into a temporary safetensors file that is then opened like any other. Dataset paths become names with
/// dots (`language/layers/0/q` → `language.layers.0.q`); F16/F32/F64, integers and bf16 (a bf16-layout
/// float type, or 2-byte integers/opaques tagged with an attribute `dtype = "bfloat16"`) keep their dtype.
///
/// Refused: external storage and virtual datasets (their bytes would come from another file), filters
/// other than deflate/shuffle/fletcher32 (a plugin could be loaded), unsupported types and ranks, datasets
/// larger than the free space. Soft and external links are not followed (reported as warnings).
/// libhdf5 has a long history of crashes on malformed files, so the CLI runs this in a child process
/// (``IsolatedConversion/hdf5``): a crash becomes ``HDF5Violation/readerCrashed(_:)``.
public enum HDF5Input {
    static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// True when the HDF5 signature is at offset 0, 512, 1024, 2048, … (a user block may precede it).
    public static func hasSignature(_ path: String) -> Bool {
        guard let (fd, size) = try? RegularFile.openForReading(path) else { return false }
        defer { close(fd) }
        var offset = 0
        var bytes = [UInt8](repeating: 0, count: 8)
        while offset < 1 << 20, offset + 8 <= size {
            let count = bytes.withUnsafeMutableBytes { try? RegularFile.read(fd, into: $0, at: offset, path: path) }
            guard count == 8 else { return false }
            if bytes == signature { return true }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }

    /// Converts `path` into the safetensors file `output`, in a child process when the tool has set one up
    /// (``IsolatedConversion/hdf5``). Returns warnings (links not followed).
    public static func convert(_ path: String, to output: String) throws -> [String] {
        try IsolatedConversion.hdf5.convert(path, to: output)
    }

    /// Seconds the worker may take on a file of `fileBytes`: a base of 120 s (the environment variable
    /// `MM1CONV_HDF5_TIMEOUT` sets another) plus 60 s per GB, room for decompressing deflated datasets on a
    /// slow disk. libhdf5 1.10 loops forever on some damaged files (a corrupt global heap behind a string
    /// attribute); without a limit the tool would hang.
    public static func timeLimit(fileBytes: UInt64) -> Int {
        let base = ProcessInfo.processInfo.environment["MM1CONV_HDF5_TIMEOUT"].flatMap { Int($0) }.map { max(1, $0) } ?? 120
        return base + Int(fileBytes / 1_000_000_000) * 60
    }

    /// What the worker reports on stderr when it refuses a file.
    public struct WorkerFailure: Codable, Sendable {
        public let violation: HDF5Violation
        public let dataset: String?
        public init(violation: HDF5Violation, dataset: String?) {
            self.violation = violation
            self.dataset = dataset
        }
    }

    struct Dataset {
        let path: String
        var name: String
        let dtype: DType
        /// The shape in the file.
        let shape: [Int]
        let readsOwnType: Bool
        /// Axis order of the presented tensor (Keras kernels), or nil when it is the file's.
        var permutation: [Int]? = nil
        var presentedShape: [Int] { permutation.map { $0.map { shape[$0] } } ?? shape }
    }

    /// A Keras weight: its tensor name (`layer.variable`) and whether it is a kernel to reorder
    /// (Dense `[in, out]` → `[out, in]`, convolutions HWIO → OIHW).
    struct KerasWeight {
        let name: String
        let isKernel: Bool
    }

    /// The variable names Keras 3 does not store, by layer class (the group name, snake_case).
    static let keras3Variables: [String: [String]] = [
        "dense": ["kernel", "bias"], "conv1d": ["kernel", "bias"], "conv2d": ["kernel", "bias"], "conv3d": ["kernel", "bias"],
        "layer_normalization": ["gamma", "beta"], "batch_normalization": ["gamma", "beta", "moving_mean", "moving_variance"],
        "embedding": ["embeddings"],
    ]

    static func strings(_ object: hid_t, _ attribute: String) -> [String]? {
        var count: Int32 = 0
        guard let raw = mm1_h5_read_strings(object, attribute, &count) else { return nil }
        defer { free(raw) }
        var out: [String] = [], at = raw
        for _ in 0..<count {
            // Advance by the bytes in the buffer, not by the decoded string's: invalid UTF-8 is repaired
            // with U+FFFD (3 bytes for 1), which once walked past the end of the buffer (found by fuzzing).
            let length = strlen(at)
            out.append(String(decoding: UnsafeRawBufferPointer(start: at, count: length), as: UTF8.self))
            at += length + 1
        }
        return out
    }

    /// The Keras layout of `file`, when it has one: dataset path → weight. Keras 2 (`save_weights` or
    /// `model.save`): `layer_names` and each layer's `weight_names` attributes; Keras 3 (`.weights.h5`):
    /// `…/layers/<class>/vars/<i>` with the layer's name as the `vars` group's `name` attribute.
    static func kerasLayout(_ file: hid_t, links: [String]) -> [String: KerasWeight]? {
        for base in ["", "model_weights/"] {
            let group = base.isEmpty ? H5Gopen2(file, "/", mm1_h5p_default()) : H5Gopen2(file, String(base.dropLast()), mm1_h5p_default())
            guard group >= 0 else { continue }
            defer { H5Gclose(group) }
            guard let layers = strings(group, "layer_names") else { continue }
            var weights: [String: KerasWeight] = [:]
            for layer in layers {
                let g = H5Gopen2(file, base + layer, mm1_h5p_default())
                guard g >= 0 else { continue }
                defer { H5Gclose(g) }
                for w in strings(g, "weight_names") ?? [] {
                    let variable = String(w.split(separator: "/").last ?? Substring(w)).replacingOccurrences(of: ":0", with: "")
                    weights[base + layer + "/" + w] = KerasWeight(name: "\(layer).\(variable)", isKernel: variable == "kernel")
                }
            }
            return weights
        }
        var weights: [String: KerasWeight] = [:]
        for link in links {
            let parts = link.split(separator: "/").map(String.init)
            guard parts.count >= 4, parts[parts.count - 2] == "vars", parts[parts.count - 4] == "layers", let index = Int(parts.last!) else { continue }
            let varsPath = parts.dropLast().joined(separator: "/")
            let group = H5Gopen2(file, varsPath, mm1_h5p_default())
            guard group >= 0 else { continue }
            defer { H5Gclose(group) }
            let layer = strings(group, "name")?.first ?? parts[parts.count - 3]
            let names = keras3Variables[parts[parts.count - 3]] ?? []
            let variable = index < names.count ? names[index] : String(index)
            weights[link] = KerasWeight(name: "\(layer).\(variable)", isKernel: variable == "kernel")
        }
        return weights.isEmpty ? nil : weights
    }

    /// The conversion itself (what the worker runs). `limitingMemory` (the worker's, never a library caller's:
    /// it sets this process's address-space limit) bounds what libhdf5 may allocate: damaged files have made
    /// it allocate 4–17 GB of metadata buffers from a few kilobytes. The limit is ``addressSpace(fileBytes:largestTensor:)``,
    /// first with no tensor (while libhdf5 reads the metadata), then with the largest tensor declared.
    public static func convertInProcess(_ path: String, to output: String, limitingMemory: Bool = false) throws -> [String] {
        mm1_h5_silence()
        let fileBytes = IsolatedConversion.fileBytes(path)
        if limitingMemory { limitAddressSpace(to: addressSpace(fileBytes: fileBytes, largestTensor: 0)) }
        func fail(_ v: HDF5Violation, _ dataset: String? = nil) -> FormatError { FormatError(.hdf5(v), file: path, tensor: dataset) }
        let file = H5Fopen(path, mm1_h5f_acc_rdonly(), mm1_h5p_default())
        guard file >= 0 else {
            throw fail(hasSignature(path) ? .truncated("libhdf5 cannot open it") : .notHDF5)
        }
        defer { H5Fclose(file) }

        final class Links { var list: [(String, Int32)] = [] }
        let links = Links()
        let visited = mm1_h5_visit(file, { name, kind, context in
            Unmanaged<Links>.fromOpaque(context!).takeUnretainedValue().list.append((String(cString: name!), kind))
        }, Unmanaged.passUnretained(links).toOpaque())
        guard visited >= 0 else { throw fail(.truncated("its groups cannot be walked")) }
        guard visited != MM1_H5_VISIT_LONG_PATH else { throw fail(.truncated("a link path is longer than \(MM1_H5_PATH_LIMIT) bytes")) }
        guard visited != MM1_H5_VISIT_TOO_MANY else {
            throw fail(.truncated("more than \(MM1_H5_LINKS_LIMIT) links or \(MM1_H5_PATHS_LIMIT) bytes of link paths"))
        }

        var warnings: [String] = []
        var datasets: [Dataset] = []
        let keras = kerasLayout(file, links: links.list.map(\.0))
        var space = statvfs()
        let folder = (output as NSString).deletingLastPathComponent
        let free: UInt64 = statvfs(folder, &space) == 0 ? UInt64(space.f_bavail) * UInt64(space.f_frsize) : .max
        let fileSize = fileBytes > 0 ? fileBytes : .max
        for (link, kind) in links.list {
            guard kind == 0 else {
                warnings.append("\(kind == 1 ? "soft" : "external") link \(link) is not followed")
                continue
            }
            let dataset = H5Dopen2(file, link, mm1_h5p_default())
            guard dataset >= 0 else { continue }  // a group
            defer { H5Dclose(dataset) }
            var weight: KerasWeight? = nil
            if let keras {
                guard let w = keras[link] else {
                    warnings.append("dataset \(link) is not a weight of the Keras layout (layer_names / layers/…/vars): skipped")
                    continue
                }
                weight = w
            }
            do {
                var d = try describe(dataset, path: link, free: free, fileSize: fileSize)
                if let weight {
                    d.name = weight.name
                    if weight.isKernel, d.shape.count == 2 { d.permutation = [1, 0] }
                    if weight.isKernel, d.shape.count == 4 { d.permutation = [3, 2, 0, 1] }
                }
                datasets.append(d)
            } catch let v as HDF5Violation {
                throw fail(v, "/" + link)
            }
        }
        let entries = try datasets.map { SafetensorsLayout.Entry(name: $0.name, dtype: $0.dtype, shape: try Shape($0.presentedShape)) }
        if limitingMemory {
            let largest = entries.compactMap { $0.shape.byteCount(of: $0.dtype) }.map(UInt64.init).max() ?? 0
            limitAddressSpace(to: addressSpace(fileBytes: fileBytes, largestTensor: largest))
        }
        let writer = try SafetensorsWriter(path: output, layout: try SafetensorsLayout(entries: entries), overwrite: true)
        let byName = Dictionary(uniqueKeysWithValues: datasets.map { ($0.name, $0) })
        while let next = writer.nextTensor {
            let d = byName[next.name]!
            let dataset = H5Dopen2(file, d.path, mm1_h5p_default())
            defer { H5Dclose(dataset) }
            let fileType = H5Dget_type(dataset)
            defer { H5Tclose(fileType) }
            let memory = d.readsOwnType ? H5Tcopy(fileType) : H5Tget_native_type(fileType, H5T_DIR_DEFAULT)
            defer { H5Tclose(memory) }
            var status: herr_t = 0
            try writer.write(next.name) { buffer in
                guard buffer.count > 0 else { return }
                guard let permutation = d.permutation else {
                    status = H5Dread(dataset, memory, mm1_h5s_all(), mm1_h5s_all(), mm1_h5p_default(), buffer.baseAddress)
                    return
                }
                let temporary = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count, alignment: 64)
                defer { temporary.deallocate() }
                status = H5Dread(dataset, memory, mm1_h5s_all(), mm1_h5s_all(), mm1_h5p_default(), temporary.baseAddress)
                permute(UnsafeRawBufferPointer(temporary), shape: d.shape, permutation, width: d.dtype.byteWidth!, into: buffer)
            }
            guard status >= 0 else { throw fail(.truncated("dataset \(d.path) cannot be read"), d.path) }
        }
        try writer.commit()
        return warnings
    }

    /// The address space the worker may use: 1 GiB for the runtime and libhdf5, 8 bytes per byte of the file
    /// for libhdf5's metadata, and twice the largest tensor (its buffer and a transposed copy).
    public static func addressSpace(fileBytes: UInt64, largestTensor: UInt64) -> UInt64 {
        let (a, o1) = fileBytes.multipliedReportingOverflow(by: 8)
        let (b, o2) = largestTensor.multipliedReportingOverflow(by: 2)
        let (sum, o3) = (UInt64(1) << 30).addingReportingOverflow(a)
        let (total, o4) = sum.addingReportingOverflow(b)
        return o1 || o2 || o3 || o4 ? .max : total
    }

    /// Sets this process's soft address-space limit (RLIMIT_AS), within its hard limit.
    static func limitAddressSpace(to bytes: UInt64) {
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_AS.rawValue)
        #else
        let resource = RLIMIT_AS
        #endif
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return }
        limit.rlim_cur = rlim_t(min(bytes, UInt64(limit.rlim_max)))
        _ = setrlimit(resource, &limit)
    }

    /// Copies a row-major tensor of `shape` into `destination` with its axes in `permutation` order.
    static func permute(_ source: UnsafeRawBufferPointer, shape: [Int], _ permutation: [Int], width: Int, into destination: UnsafeMutableRawBufferPointer) {
        let rank = shape.count
        var strides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        let outShape = permutation.map { shape[$0] }, outStrides = permutation.map { strides[$0] }
        var index = [Int](repeating: 0, count: rank)
        for o in 0..<(source.count / width) {
            var s = 0
            for k in 0..<rank { s += index[k] * outStrides[k] }
            (destination.baseAddress! + o * width).copyMemory(from: source.baseAddress! + s * width, byteCount: width)
            var k = rank - 1
            while k >= 0 {
                index[k] += 1
                if index[k] < outShape[k] { break }
                index[k] = 0
                k -= 1
            }
        }
    }

    /// Validates one dataset (storage, filters, dataspace, type, size) without reading it.
    static func describe(_ dataset: hid_t, path: String, free: UInt64, fileSize: UInt64) throws -> Dataset {
        let plist = H5Dget_create_plist(dataset)
        defer { H5Pclose(plist) }
        if H5Pget_layout(plist) == H5D_VIRTUAL { throw HDF5Violation.externalStorage("virtual dataset") }
        if H5Pget_external_count(plist) > 0 { throw HDF5Violation.externalStorage("external storage") }
        let filters = (0..<max(0, H5Pget_nfilters(plist))).map { i in
            var flags: UInt32 = 0, count = 0
            var values = [UInt32](repeating: 0, count: 16)
            var name = [CChar](repeating: 0, count: 64)
            var config: UInt32 = 0
            return H5Pget_filter2(plist, UInt32(i), &flags, &count, &values, 64, &name, &config)
        }
        for id in filters where ![H5Z_FILTER_DEFLATE, H5Z_FILTER_SHUFFLE, H5Z_FILTER_FLETCHER32].contains(id) {
            throw HDF5Violation.pluginFilter(id)
        }
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        switch H5Sget_simple_extent_type(space) {
        case H5S_NULL: throw HDF5Violation.unsupportedRank("null (no data)")
        case H5S_SCALAR: throw HDF5Violation.unsupportedRank("scalar")
        default: break
        }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard (1...4).contains(rank) else { throw HDF5Violation.unsupportedRank("of rank \(rank)") }
        var dims = [hsize_t](repeating: 0, count: rank)
        H5Sget_simple_extent_dims(space, &dims, nil)
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        let size = H5Tget_size(type)
        var dtype: DType
        var own = false
        switch H5Tget_class(type) {
        case H5T_FLOAT:
            var spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0
            H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize)
            switch (size, spos, epos, esize, mpos, msize) {
            case (4, _, _, _, _, _): dtype = .f32
            case (8, _, _, _, _, _): dtype = .f64
            case (2, 15, 10, 5, 0, 10): dtype = .f16; own = true
            case (2, 15, 7, 8, 0, 7): dtype = .bf16; own = true
            default: throw HDF5Violation.unsupportedType("float of \(size) bytes with fields (\(spos), \(epos), \(esize), \(mpos), \(msize))")
            }
            if own && H5Tget_order(type) != H5T_ORDER_LE { throw HDF5Violation.unsupportedType("big-endian 16-bit float") }
        case H5T_INTEGER:
            let signed = H5Tget_sign(type) == H5T_SGN_2
            switch (size, signed) {
            case (1, true): dtype = .i8
            case (1, false): dtype = .u8
            case (2, true): dtype = .i16
            case (2, false): dtype = taggedBF16(dataset) ? .bf16 : .u16
            case (4, true): dtype = .i32
            case (4, false): dtype = .u32
            case (8, true): dtype = .i64
            case (8, false): dtype = .u64
            default: throw HDF5Violation.unsupportedType("integer of \(size) bytes")
            }
            if dtype == .bf16 { own = true }
        case H5T_OPAQUE where size == 2 && taggedBF16(dataset):
            dtype = .bf16
            own = true
        case let c:
            let names: [H5T_class_t: String] = [H5T_COMPOUND: "compound (e.g. complex)", H5T_STRING: "string", H5T_ENUM: "enum",
                                                H5T_OPAQUE: "opaque (untagged)", H5T_VLEN: "variable-length", H5T_ARRAY: "array",
                                                H5T_REFERENCE: "reference", H5T_BITFIELD: "bitfield", H5T_TIME: "time"]
            throw HDF5Violation.unsupportedType(names[c] ?? "class \(c.rawValue)")
        }
        var bytes = UInt64(dtype.byteWidth ?? 1)
        for d in dims {
            let (p, overflow) = bytes.multipliedReportingOverflow(by: d)
            guard !overflow else { throw HDF5Violation.tooLarge(bytes: .max, limit: free) }
            bytes = p
        }
        guard bytes <= free else { throw HDF5Violation.tooLarge(bytes: bytes, limit: free) }
        // What the file really holds for it: a dataset of 4 GB declared in a 20 KB file (unallocated
        // storage, read back as fill values) would otherwise be written out in full. Deflate expands at
        // most 1032:1; without it the stored bytes are at least the data's.
        let stored = H5Dget_storage_size(dataset)
        let compressed = filters.contains(H5Z_FILTER_DEFLATE)
        let expanded = stored.multipliedReportingOverflow(by: 1032)
        let backed = compressed ? (expanded.overflow ? .max : expanded.partialValue) : stored
        guard stored <= fileSize, bytes <= backed else {
            throw HDF5Violation.unbackedData(declared: bytes, stored: stored)
        }
        let name = path.split(separator: "/").joined(separator: ".")
        return Dataset(path: path, name: name, dtype: dtype, shape: dims.map { Int($0) }, readsOwnType: own)
    }

    /// True when the dataset has a string attribute `dtype` equal to `bfloat16` (Keras 3's tag).
    static func taggedBF16(_ dataset: hid_t) -> Bool {
        // Through the shim's bounded reader: a `dtype` attribute of several strings (read into one pointer
        // here before) or of another type must not be read as one.
        guard let tag = strings(dataset, "dtype"), tag.count == 1 else { return false }
        return tag[0].trimmingCharacters(in: .whitespaces) == "bfloat16"
    }
}
