import MM1Tensor

/// The exact `(module, name)` pairs a PyTorch checkpoint may name, and what each means. Anything else
/// fails the read (``PickleViolation/forbiddenGlobal(module:name:)``): this is an allowlist, because
/// denylists of "dangerous" names have been bypassed again and again (picklescan's CVEs).
///
/// Narrower than torch's `_get_allowed_globals`: no `torch.device`, qschemes, layouts, or the sparse,
/// quantized and nested rebuilds, which no weight checkpoint of this project's models uses.
package enum TorchGlobals {
    /// The functions that rebuild a tensor (`torch/_utils.py`), and how to read their arguments.
    package enum Rebuild: String, Sendable, CaseIterable {
        /// `(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`
        case tensorV2 = "_rebuild_tensor_v2"
        /// `(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])`
        case tensorV3 = "_rebuild_tensor_v3"
        /// `(storage, storage_offset, size, stride)`
        case tensor = "_rebuild_tensor"
        /// `(data, requires_grad, backward_hooks)`
        case parameter = "_rebuild_parameter"
        /// `(data, requires_grad, backward_hooks, state)`
        case parameterWithState = "_rebuild_parameter_with_state"
    }

    /// The typed storages (`torch/storage.py` `_dtype_to_storage_type_map`) mm1conv reads, by name.
    package static let storageTypes: [String: DType] = [
        "DoubleStorage": .f64, "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8, "ByteStorage": .u8,
        "BoolStorage": .bool, "ComplexFloatStorage": .c64,
    ]
    /// Storage types torch defines that have no dtype here: allowed as names, refused as storage.
    static let unsupportedStorageTypes: Set<String> = ["ComplexDoubleStorage", "QInt8Storage", "QInt32Storage", "QUInt8Storage", "QUInt4x2Storage", "QUInt2x4Storage"]
    /// `torch.UntypedStorage`: bytes, its numel counts bytes.
    static let untypedStorage = "UntypedStorage"

    /// The dtype globals (`torch.float32`, …) by name, the aliases torch defines included.
    package static let dtypes: [String: DType] = [
        "float32": .f32, "float": .f32, "float16": .f16, "half": .f16, "bfloat16": .bf16, "float64": .f64, "double": .f64,
        "int8": .i8, "uint8": .u8, "int16": .i16, "short": .i16, "int32": .i32, "int": .i32, "int64": .i64, "long": .i64,
        "uint16": .u16, "uint32": .u32, "uint64": .u64, "bool": .bool, "complex64": .c64, "cfloat": .c64,
        "float8_e5m2": .f8E5M2, "float8_e4m3fn": .f8E4M3, "float8_e4m3fnuz": .f8E4M3FNUZ, "float8_e5m2fnuz": .f8E5M2FNUZ,
        "float8_e8m0fnu": .f8E8M0,
    ]
    /// dtype globals torch defines that have no dtype here.
    static let unsupportedDTypes: Set<String> = [
        "complex32", "chalf", "complex128", "cdouble", "float4_e2m1fn_x2", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
        "quint8", "qint8", "qint32", "quint4x2", "quint2x4",
    ]

    /// Whether a checkpoint may name `g`.
    package static func isAllowed(_ g: PickleGlobal) -> Bool {
        switch g.module {
        case "torch._utils": Rebuild(rawValue: g.name) != nil
        case "torch._tensor": g.name == "_rebuild_from_type_v2"
        case "torch": g.name == "Size" || g.name == "Tensor" || g.name == untypedStorage || storageTypes[g.name] != nil
            || unsupportedStorageTypes.contains(g.name) || dtypes[g.name] != nil || unsupportedDTypes.contains(g.name)
        case "torch.storage": g.name == untypedStorage  // how torch ≥ 2 names it
        case "torch.nn.parameter": g.name == "Parameter"
        case "collections": g.name == "OrderedDict"
        case "_codecs": g.name == "encode"
        case "builtins": ["set", "frozenset"].contains(g.name)
        default: false
        }
    }

    /// The rebuild function `g` names, if any.
    static func rebuild(_ g: PickleGlobal?) -> Rebuild? {
        guard let g, g.module == "torch._utils" else { return nil }
        return Rebuild(rawValue: g.name)
    }

    /// Whether `g` names a tensor type `_rebuild_from_type_v2` may make (Tensor, Parameter).
    static func isTensorType(_ value: PickleValue) -> Bool {
        guard case .global(let g) = value else { return false }
        return (g.module == "torch" && g.name == "Tensor") || (g.module == "torch.nn.parameter" && g.name == "Parameter")
    }
}
