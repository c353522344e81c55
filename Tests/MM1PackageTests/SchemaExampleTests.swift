import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1TestSupport
import Testing

/// Every file in Schemas/examples decodes into the Swift type its schema describes (the Python
/// interop check validates the same files against the schemas).
@Suite struct SchemaExampleTests {
    static let examples: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: Fixtures.root.appendingPathComponent("Schemas/examples").path)) ?? []).sorted()

    @Test("schema examples decode", arguments: examples)
    func decodes(_ name: String) throws {
        let data = try Data(contentsOf: Fixtures.root.appendingPathComponent("Schemas/examples/\(name)"))
        if name.hasPrefix("config-") {
            let config = try MM1Config.decode(from: data, file: name)
            #expect(try MM1Config.decode(from: try config.jsonData()) == config)
        } else if name.hasPrefix("mapping-") {
            let dialect = try JSONDecoder().decode(Dialect.self, from: data)
            #expect(!dialect.rules.isEmpty)
        } else if name.hasPrefix("package-") {
            let manifest = try JSONDecoder().decode(PackageManifest.self, from: data)
            #expect(manifest.tensors.count == (try MM1Model(graphOf: manifest.config)).specs.count)
        } else {
            Issue.record("\(name): no schema for this prefix")
        }
    }

    @Test("there are examples of every schema")
    func present() {
        for prefix in ["config-", "mapping-", "package-"] { #expect(Self.examples.contains { $0.hasPrefix(prefix) }) }
    }

    @Test("a user mapping file maps like the built-in dialects (split, stack, ${n-1}, transpose)")
    func userMapping() throws {
        let dialect = try JSONDecoder().decode(Dialect.self, from: Data(contentsOf: Fixtures.root.appendingPathComponent("Schemas/examples/mapping-example.json")))
        #expect(dialect.rules[0].targets[1].transform == .split(axis: 0, parts: 3, index: 1))
        #expect(dialect.rules[1].stackIndex == 2)
        #expect(dialect.rules[3].targets[0].transform == .transpose)
        #expect(try JSONDecoder().decode(Dialect.self, from: JSONEncoder().encode(dialect)).rules == dialect.rules)
    }

    /// The folder `make test` hands over for the Python checks that run after `swift test`.
    static let interopDir = ProcessInfo.processInfo.environment["MM1_INTEROP_DIR"].flatMap { $0.isEmpty ? nil : $0 }

    @Test("writes a package for the Python schema and safetensors checks",
          .enabled(if: interopDir != nil, "needs MM1_INTEROP_DIR, the folder the Python interop checks read (make test sets it)"))
    func interopPackage() throws {
        let dir = try #require(Self.interopDir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let out = "\(dir)/tiny-dense.mm1"
        var importer = Importer()
        importer.overwrite = true
        try importer.run(try MM1Formats.Checkpoint.open(Fixtures.path("dialects/honeybee")), config: Preset.preset(.tinyDense).config, to: out)
        #expect(FileManager.default.fileExists(atPath: "\(out)/mm1.json"))
    }
}
