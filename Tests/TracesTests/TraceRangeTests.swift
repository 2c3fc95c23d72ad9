// Hostile numbers: times and counters out of range are reader errors naming the byte and event; byte
// sums that overflow a 64-bit integer are summary and timeline errors naming the event that overflows;
// differences are taken in Double. Each case once trapped (`Int(Double)` of infinity or NaN, `+` or `-`
// overflowing).
import Foundation
import Testing
import Traces

@Suite struct TraceRangeTests {
    /// `[{"ph":"M","name":"x"},` puts the event under test at byte 23, event 1.
    static let lead = #"[{"ph":"M","name":"x"},"#

    func readError(_ event: String) -> TraceReadError? {
        do {
            _ = try Fixture.trace(Self.lead + event + "]")
            return nil
        } catch {
            return error as? TraceReadError
        }
    }

    @Test func outOfRangeFieldsAreReaderErrors() throws {
        let cases: [(String, String)] = [
            (#"{"ph":"C","name":"live bytes","ts":1,"args":{"a":1e999}}"#, "\"args.a\" (inf) is out of range"),
            (#"{"ph":"C","name":"live bytes","ts":1,"args":{"a":1e19}}"#, "\"args.a\" (1e+19) is out of range"),
            (#"{"ph":"C","name":"live bytes","ts":1,"args":{"a":-1e19}}"#, "is out of range"),
            (#"{"ph":"X","name":"a","ts":1.7e308,"dur":1}"#, "\"ts\" (1.7e+308) is out of range"),
            (#"{"ph":"X","name":"a","ts":-1.7e308,"dur":1}"#, "\"ts\" (-1.7e+308) is out of range"),
            (#"{"ph":"X","name":"a","ts":0,"dur":1e300}"#, "\"dur\" (1e+300) is out of range"),
            (#"{"ph":"X","name":"a","ts":1e999,"dur":1}"#, "\"ts\" (inf) is out of range"),
            (#"{"ph":"C","name":"c","ts":2e17,"args":{}}"#, "\"ts\" (2e+17) is out of range"),
            (#"{"ph":"i","name":"[memory]","ts":-1e18,"args":{"Bytes":1}}"#, "\"ts\" (-1e+18) is out of range"),
            (#"{"ph":"i","name":"[memory]","ts":1,"args":{"Bytes":1e19}}"#, "\"args.Bytes\" (1e+19) is out of range"),
            (#"{"ph":"i","name":"[memory]","ts":1,"args":{"Bytes":-1e999}}"#, "\"args.Bytes\" (-inf) is out of range"),
            (
                #"{"ph":"i","name":"[memory]","ts":1,"args":{"Bytes":1,"Total Allocated":9.3e18}}"#,
                "\"args.Total Allocated\" (9.3e+18) is out of range"
            ),
        ]
        for (event, message) in cases {
            let e = try #require(readError(event), "\(event) parsed")
            #expect(e.message.contains(message), "\(event): \(e.message)")
            #expect(e.event == 1 && e.offset == 23, "\(event): \(e.description)")
            #expect(e.description.hasPrefix("t.json: byte 23, event 1: "), "\(e.description)")
        }
        // The largest values in range still read.
        let t = try Fixture.trace(
            Self.lead
                + #"{"ph":"X","name":"a","ts":-1e17,"dur":1e17},{"ph":"C","name":"c","ts":1e17,"args":{"a":9.1e18}}]"#)
        #expect(t.slices.count == 1 && t.counters.count == 1)
    }

    /// The error `body` throws, as a TraceReadError.
    func figuresError(_ body: () throws -> Void) -> TraceReadError? {
        do {
            try body()
            return nil
        } catch {
            return error as? TraceReadError
        }
    }

    @Test func runningSumOfBytesOverflowIsAnError() throws {
        // Two 9e18-byte allocations: the second overflows the running sum (event 2 of the file).
        let first = #"[{"ph":"i","name":"[memory]","ts":1,"args":{"Bytes":9000000000000000000}},"#
        let text = first + #"{"ph":"i","name":"[memory]","ts":2,"args":{"Bytes":9000000000000000000}}]"#
        let trace = try Fixture.trace(text)
        for (what, body) in [
            ("summary", { _ = try TraceSummary(trace) }), ("timeline", { _ = try TraceTimeline(trace) }),
        ] {
            let e = try #require(figuresError(body), "\(what) did not throw")
            #expect(
                e.description
                    == "t.json: byte \(first.utf8.count), event 1: the running sum of [memory] Bytes overflows a 64-bit integer",
                "\(what): \(e.description)")
        }
        // One of them freed in between: fine, and the peak is exact.
        let freed =
            first + #"{"ph":"i","name":"[memory]","ts":1.5,"args":{"Bytes":-9000000000000000000}},"#
            + #"{"ph":"i","name":"[memory]","ts":2,"args":{"Bytes":9000000000000000000}}]"#
        let s = try TraceSummary(try Fixture.trace(freed))
        #expect(s.peakDeltaBytes == 9_000_000_000_000_000_000)
        #expect(try TraceTimeline(try Fixture.trace(freed)).peakBytes == 9_000_000_000_000_000_000)
    }

    @Test func categorySumOverflowIsAnError() throws {
        // The running sum stays in range (5e18, 0, 5e18, 5e18 + 1) but category a reaches 1e19 at
        // event 2; the peak is event 3, so the breakdown at the peak sums past it.
        func event(_ ts: Int, _ bytes: String, _ category: String) -> String {
            #"{"ph":"i","name":"[memory]","ts":\#(ts),"args":{"Bytes":\#(bytes),"Category":"\#(category)"}}"#
        }
        let head = "[" + event(1, "5000000000000000000", "a") + "," + event(2, "-5000000000000000000", "b") + ","
        let text = head + event(3, "5000000000000000000", "a") + "," + event(4, "1", "c") + "]"
        let trace = try Fixture.trace(text)
        for (what, body) in [
            ("summary", { _ = try TraceSummary(trace) }), ("timeline", { _ = try TraceTimeline(trace) }),
        ] {
            let e = try #require(figuresError(body), "\(what) did not throw")
            #expect(e.offset == head.utf8.count && e.event == 2, "\(what): \(e.description)")
            #expect(e.message == "the [memory] Bytes of a overflows a 64-bit integer", "\(what): \(e.message)")
        }
    }

    @Test func counterTotalOverflowIsAnError() throws {
        // Each value fits a 64-bit integer; their total (1e19) does not.
        let head = #"[{"ph":"C","name":"live bytes","ts":1,"args":{"activation":1}},"#
        let text = head + #"{"ph":"C","name":"live bytes","ts":2,"args":{"activation":5e18,"gradient":5e18}}]"#
        let trace = try Fixture.trace(text)
        for (what, body) in [
            ("summary", { _ = try TraceSummary(trace) }), ("timeline", { _ = try TraceTimeline(trace) }),
        ] {
            let e = try #require(figuresError(body), "\(what) did not throw")
            #expect(e.offset == head.utf8.count && e.event == 1, "\(what): \(e.description)")
            #expect(e.message == "the counter's total (1e+19) overflows a 64-bit integer", "\(what): \(e.message)")
        }
        // In range: the planned peak is the exact total.
        let ok = head + #"{"ph":"C","name":"live bytes","ts":2,"args":{"activation":4e18,"gradient":5e18}}]"#
        #expect(try TraceSummary(try Fixture.trace(ok)).plannedPeakBytes == 9_000_000_000_000_000_000)
    }

    @Test func measuredPeakOverflowIsAnError() throws {
        let text =
            #"{"otherData":{"producer":"graphc","measured":{"arena_high_water_bytes":9000000000000000000}},"#
            + #""traceEvents":[{"ph":"C","name":"live bytes","ts":1,"args":{"parameter_frozen":9e17}}]}"#
        let e = try #require(figuresError { _ = try TraceSummary(try Fixture.trace(text)) })
        #expect(e.message.contains("arena_high_water_bytes + the persistent bytes overflows"), "\(e.message)")
    }

    @Test func subnormalDurationDoesNotTrap() throws {
        // A duration so small that a column's width rounds to 0: every sample lands in a column.
        let text =
            #"[{"ph":"i","name":"[memory]","ts":0,"args":{"Bytes":64}},"#
            + #"{"ph":"i","name":"[memory]","ts":5e-324,"args":{"Bytes":32}}]"#
        let t = try TraceTimeline(try Fixture.trace(text), columns: 480)
        #expect(t.columns.count == 480 && t.peakBytes == 96)
    }

    @Test func differencesNearIntBoundsAreDoubles() throws {
        // A Total Allocated of −9e18 against a 4e18 prediction: `measured − predicted` overflows Int.
        let trace = try Fixture.trace(
            #"[{"ph":"i","name":"[memory]","ts":1,"args":{"Bytes":1,"Total Allocated":-9000000000000000000}}]"#)
        let s = try TraceSummary(trace)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("graphc-range-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try #"{"batch":8,"memory":{"peak_bytes":4000000000000000000,"persistent_bytes":0}}"#.write(
            toFile: path, atomically: true, encoding: .utf8)
        let p = try Prediction(analyzeJSON: try Trace.readJSON(path: path), file: path)
        let c = TraceComparison(s, trace, p)
        let peak = try #require(c.rows.first { $0.name == "peak" })
        #expect(peak.measured == -9_000_000_000_000_000_000)
        let d = try #require(peak.differencePercent)
        #expect(abs(d - -325) < 1e-9, "\(d)")
        #expect(peak.cause != nil)
        // Figures of a saved analysis beyond 2^62 (whose sums could overflow) are rejected.
        try #"{"batch":8,"memory":{"peak_bytes":9000000000000000000,"persistent_bytes":0}}"#.write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: TraceReadError.self) { try Prediction(analyzeJSON: try Trace.readJSON(path: path), file: path) }
    }
}
