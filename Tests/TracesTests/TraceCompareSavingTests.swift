// The "likely cause" of more forward-allocated bytes at a PyTorch trace's peak than the prediction
// saves depends on the prediction's saving policy: only `--saving lean` saves less than autograd.
import Foundation
import Passes
import Testing
import Traces

@Suite struct TraceCompareSavingTests {
    /// A PyTorch-style trace: a forward conv (unmarked, so forward once a phase is marked) allocating
    /// 1,000 bytes, then an optimizer step.
    static let trace = """
        [{"ph":"X","cat":"cpu_op","name":"aten::conv2d","pid":1,"tid":1,"ts":0,"dur":10},
         {"ph":"i","name":"[memory]","pid":1,"tid":1,"ts":5,"args":{"Bytes":1000,"Addr":7,"Total Allocated":1000}},
         {"ph":"X","cat":"user_annotation","name":"Optimizer.step#Adam.step","pid":1,"tid":1,"ts":20,"dur":5}]
        """

    func cause(saving: String?) throws -> (String?, Prediction) {
        let trace = try Fixture.trace(Self.trace)
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("graphc-saving-\(getpid())-\(saving ?? "none").json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let policy = saving.map { #""saving":"\#($0)","# } ?? ""
        try
            #"{\#(policy)"batch":8,"memory":{"peak_bytes":100,"persistent_bytes":0,"at_peak":{"activations":10,"input":0}}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let p = try Prediction(analyzeJSON: try Trace.readJSON(path: path), file: path)
        let c = TraceComparison(try TraceSummary(trace), trace, p)
        let row = try #require(c.rows.first { $0.name == "activations + input (allocated in forward)" })
        #expect(row.predicted == 10 && row.measured == 1000)
        return (row.cause, p)
    }

    @Test func causeFollowsThePolicy() throws {
        let (lean, pl) = try cause(saving: "lean")
        #expect(pl.saving == .lean)
        #expect(lean?.hasPrefix("the saving policy: the prediction is for --saving lean") == true, "\(lean ?? "nil")")
        let (pytorch, pp) = try cause(saving: "pytorch")
        #expect(pp.saving == .pytorch)
        #expect(pytorch?.hasPrefix("not the saving policy") == true, "\(pytorch ?? "nil")")
        let (none, pn) = try cause(saving: nil)
        #expect(pn.saving == nil)
        #expect(none?.contains("names none") == true, "\(none ?? "nil")")
    }
}
