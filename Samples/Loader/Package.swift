// swift-tools-version: 6.1
// A loader written as another runtime would write one: a separate package that depends on mm1conv by
// path and imports only its library product, MM1Kit. `make loader-sample` builds and runs it.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name (`mm1conv` in a clone, a worktree's own name elsewhere).
let mm1conv = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardizedFileURL.lastPathComponent

let package = Package(
    name: "Loader",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "../..")],
    targets: [
        .executableTarget(name: "Loader", dependencies: [.product(name: "MM1Kit", package: mm1conv)]),
    ]
)
