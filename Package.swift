// swift-tools-version: 6.1
import PackageDescription
import Foundation

let package = Package(
    name: "mm1conv",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mm1conv", targets: ["mm1conv"]),
        .library(name: "MM1Kit", targets: ["MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization", "MM1Package", "MM1Reference"]),
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
        .target(name: "MM1Quantization", dependencies: ["MM1Tensor", "CKernels"]),
        .target(
            name: "MM1Package",
            dependencies: ["MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization"]),
        .target(
            name: "MM1Reference",
            dependencies: [
                "CKernels", "MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization",
                .target(name: "COpenBLAS", condition: .when(platforms: [.linux])),
            ]),
        .target(
            name: "MM1ConvCommands",
            dependencies: [
                "MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization", "MM1Package", "MM1Reference",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(name: "mm1conv", dependencies: ["MM1ConvCommands"]),
        .executableTarget(
            name: "mm1bench",
            dependencies: [
                "MM1Tensor", "MM1Formats", "MM1Graph", "MM1Quantization", "MM1Package", "MM1Reference",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: - Test support and unit test bundles
        .target(name: "MM1TestSupport", dependencies: ["MM1Tensor", "MM1Formats", "MM1Graph", "MM1Package"]),
        .testTarget(name: "MM1TensorTests", dependencies: ["MM1Tensor", "MM1Formats", "MM1TestSupport"]),
        .testTarget(name: "MM1FormatsTests", dependencies: ["MM1Formats", "MM1TestSupport"]),
        .testTarget(name: "MM1GraphTests", dependencies: ["MM1Graph", "MM1TestSupport"]),
        .testTarget(name: "MM1QuantizationTests", dependencies: ["MM1Quantization", "MM1Formats", "MM1TestSupport"]),
        .testTarget(name: "MM1PackageTests", dependencies: ["MM1Package", "MM1Quantization", "MM1TestSupport"]),
        .testTarget(name: "MM1ReferenceTests", dependencies: ["MM1Reference", "MM1Package", "MM1Quantization", "MM1Formats", "MM1Graph", "MM1TestSupport"]),
        .testTarget(
            name: "MM1ConvCommandsTests",
            dependencies: ["MM1ConvCommands", "MM1Tensor", "MM1Graph", "MM1Quantization", "MM1Package", "MM1TestSupport", "mm1conv"]),
    ]
)

// The libFuzzer harness, only when Tests/Fuzz/run.sh builds it (MM1_FUZZ=1, with --sanitize=fuzzer): it has no
// main of its own, so ordinary builds leave it out.
if ProcessInfo.processInfo.environment["MM1_FUZZ"] == "1" {
    package.products.append(.executable(name: "mm1fuzz", targets: ["mm1fuzz"]))
    package.targets.append(.executableTarget(
        name: "mm1fuzz", dependencies: ["MM1Tensor", "MM1Formats", "MM1Graph", "MM1Package"],
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
}
