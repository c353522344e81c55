import Foundation
import MM1TestSupport
import Testing

/// What the hdf5 fuzz target found (Tests/Fixtures/fuzz-regressions/hdf5, with what each must give in its
/// MANIFEST.json), run the way a user meets it: `mm1conv inspect FILE`, whose HDF5 parsing runs in the
/// `__reader-worker hdf5` child. Crashes inside libhdf5 become a typed error, its endless loops are stopped at the
/// time limit (3 s here), and the two bugs in mm1conv's own code stay fixed.
@Suite struct HDF5FuzzRegressionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let file: String
        let status: Int32
        let message: String?
        var testDescription: String { file }
    }

    static let cases: [Case] = {
        guard let data = try? Data(contentsOf: Fixtures.url("fuzz-regressions/hdf5/MANIFEST.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = json["cases"] as? [String: [String: Any]] else { return [] }
        return cases.map { name, entry in
            Case(file: name, status: Int32(entry["status"] as? Int ?? -1), message: entry["message"] as? String)
        }.sorted { $0.file < $1.file }
    }()

    @Test("every finding is listed")
    func listed() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("fuzz-regressions/hdf5")).filter { $0.hasSuffix(".h5") }
        #expect(Set(files) == Set(Self.cases.map(\.file)))
        #expect(Self.cases.count >= 7)
    }

    @Test("inspect gives the expected exit status and error, within the time limit", arguments: cases)
    func inspect(_ c: Case) throws {
        let path = Fixtures.path("fuzz-regressions/hdf5/\(c.file)")
        let started = Date()
        let r = try CommandRunner.run(["inspect", path], environment: ["MM1CONV_HDF5_TIMEOUT": "3"])
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(r.status == c.status, "\(c.file): status \(r.status), \(r.stderr)")
        if c.status != 0 {
            let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
            #expect(lines.count == 1 && lines[0].contains(c.file), "\(c.file): \(r.stderr)")
        }
        if let message = c.message { #expect(r.stderr.contains(message), "\(c.file): \(r.stderr)") }
    }
}
