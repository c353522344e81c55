// The library product's one module: `import MM1Kit` gives a loader everything public.
@_exported import MM1Conversion
@_exported import MM1Formats
@_exported import MM1Graph
@_exported import MM1PackageFormat
@_exported import MM1Quantization
@_exported import MM1Reference
@_exported import MM1Tensor
