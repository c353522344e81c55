import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat

extension Fixtures {
    /// `Samples/tiny-mm1`, the sample checkpoint (Honeybee layout, BF16 shards, PyTorch reference activations).
    public static var samplePath: String { root.appendingPathComponent("Samples/tiny-mm1").path }

    /// The sample imported (with its own config.json, stored dtype kept) into `dir/name`; opened.
    public static func importSample(into dir: TemporaryDirectory, name: String = "tiny.mm1") throws -> MM1Package {
        let config = try HFConfig.read(Data(contentsOf: URL(fileURLWithPath: "\(samplePath)/config.json")), file: "config.json").config
        try Importer().run(try Checkpoint.open(samplePath), config: config, to: dir.file(name))
        return try MM1Package.open(dir.file(name))
    }
}
