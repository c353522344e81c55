import Foundation
import MM1TestSupport
import Testing

/// Every command's `--help`, and the `--json` of the commands whose output is deterministic, as people read them
/// (`Tests/Snapshots/`). Run in the repository root with relative paths and 80 columns, so the text is the same on
/// every machine.
@Suite struct SnapshotTests {
    static let commands = ["", "inspect", "import", "quantize", "verify", "export"]

    static func run(_ arguments: [String]) throws -> CommandResult {
        try CommandRunner.run(arguments, environment: ["COLUMNS": "80"], in: Fixtures.root.path)
    }

    @Test("help of the tool and of each subcommand", arguments: commands)
    func help(_ command: String) throws {
        let r = try Self.run((command.isEmpty ? [] : [command]) + ["--help"])
        #expect(r.status == 0, "\(r.stderr)")
        let mismatch = Snapshot.mismatch(r.stdout, named: "help-\(command.isEmpty ? "mm1conv" : command).txt")
        #expect(mismatch == nil, "\(mismatch ?? "")")
    }

    @Test("JSON output", arguments: [
        ("inspect-tiny-llama.json", ["inspect", "--json", "Samples/tiny-llama"]),
        ("inspect-graph-tiny-mm1.json", ["inspect", "--graph", "--json", "Samples/tiny-mm1/config.json"]),
        ("import-dry-run-tiny-mm1.json", ["import", "Samples/tiny-mm1", "--dry-run", "--json"]),
    ])
    func json(_ name: String, _ arguments: [String]) throws {
        let r = try Self.run(arguments)
        #expect(r.status == 0, "\(r.stderr)")
        let mismatch = Snapshot.mismatch(r.stdout, named: name)
        #expect(mismatch == nil, "\(mismatch ?? "")")
    }
}
