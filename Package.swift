// swift-tools-version: 6.1
import PackageDescription
import Foundation

let package = Package(
    name: "mm1conv",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mm1conv", targets: ["mm1conv"]),
        // One product, one module to import: `import MM1Kit` re-exports the public library modules.
        .library(name: "MM1Kit", targets: ["MM1Kit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // MARK: - System libraries (found through pkg-config)
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        .systemLibrary(
            name: "CHDF5", pkgConfig: "hdf5 hdf5-serial",
            providers: [.apt(["libhdf5-dev"]), .brew(["hdf5"])]),

        // MARK: - Library modules, bottom to top
        .target(name: "CKernels"),
        // OpenBLAS is dlopen'ed, not linked: see Sources/COpenBLAS/include/mm1_openblas.h.
        .target(name: "COpenBLAS", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        .target(name: "MM1Tensor", dependencies: ["CKernels"]),
        .target(
            name: "MM1Formats",
            dependencies: [
                "MM1Tensor", "CKernels", "CZstd", "CHDF5",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .target(name: "MM1Graph", dependencies: ["MM1Tensor"]),
        .target(name: "MM1Quantization", dependencies: ["MM1Tensor", "MM1Graph", "CKernels"]),
        // The package format: open, manifest, integrity, the stored-tensor tree.
        .target(
            name: "MM1PackageFormat",
            dependencies: ["MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization"]),
        // Conversion: the import pipeline and the exporters.
        .target(
            name: "MM1Conversion",
            dependencies: ["MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization", "MM1PackageFormat"]),
        .target(
            name: "MM1Reference",
            dependencies: [
                "CKernels", "MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization",
                .target(name: "COpenBLAS", condition: .when(platforms: [.linux])),
            ]),
        .target(
            name: "MM1Kit",
            dependencies: ["MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization", "MM1PackageFormat", "MM1Conversion", "MM1Reference"]),
        .target(
            name: "MM1ConvCommands",
            dependencies: [
                "MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization", "MM1PackageFormat", "MM1Conversion", "MM1Reference",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(name: "mm1conv", dependencies: ["MM1ConvCommands"]),
        .executableTarget(
            name: "mm1bench",
            dependencies: [
                "MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization", "MM1PackageFormat", "MM1Conversion", "MM1Reference",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: - Test support and unit test bundles
        .target(name: "MM1TestSupport", dependencies: ["MM1Tensor", "MM1Formats", "MM1Graph", "MM1PackageFormat", "MM1Conversion"]),
        .testTarget(name: "MM1TensorTests", dependencies: ["MM1Tensor", "MM1Formats", "MM1TestSupport"]),
        .testTarget(name: "MM1FormatsTests", dependencies: ["MM1Formats", "MM1TestSupport"]),
        .testTarget(name: "MM1GraphTests", dependencies: ["MM1Graph", "MM1TestSupport"]),
        .testTarget(name: "MM1QuantizationTests", dependencies: ["MM1Quantization", "MM1Formats", "MM1TestSupport"]),
        .testTarget(name: "MM1PackageTests", dependencies: ["MM1PackageFormat", "MM1Conversion", "MM1Quantization", "MM1TestSupport"]),
        .testTarget(name: "MM1ReferenceTests", dependencies: ["MM1Reference", "MM1PackageFormat", "MM1Conversion", "MM1Quantization", "MM1Formats", "MM1Graph", "MM1TestSupport"]),
        .testTarget(
            name: "MM1ConvCommandsTests",
            dependencies: ["MM1ConvCommands", "MM1Tensor", "MM1Graph", "MM1Quantization", "MM1PackageFormat", "MM1Conversion", "MM1TestSupport", "mm1conv"]),
    ]
)

// The libFuzzer harness, only when Tests/Fuzz/run.sh builds it (MM1_FUZZ=1, with --sanitize=fuzzer): it has no
// main of its own, so ordinary builds leave it out.
if ProcessInfo.processInfo.environment["MM1_FUZZ"] == "1" {
    package.products.append(.executable(name: "mm1fuzz", targets: ["mm1fuzz"]))
    package.targets.append(.executableTarget(
        name: "mm1fuzz", dependencies: ["MM1Tensor", "MM1Formats", "MM1Graph", "MM1PackageFormat", "MM1Conversion"],
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
}
