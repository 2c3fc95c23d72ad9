// Bad input: each a TraceReadError naming the byte offset (and the event index inside the events),
// never a crash. The CLI turns them into one line and exit status 1 (graphcTests' TraceCLITests).
import Foundation
import Testing
import Traces

@Suite struct TraceReaderErrorTests {
    func error(_ text: String, limits: TraceReaderLimits = TraceReaderLimits()) -> TraceReadError? {
        do {
            _ = try Fixture.trace(text, limits: limits)
            return nil
        } catch let e as TraceReadError {
            return e
        } catch {
            return nil
        }
    }

    @Test func emptyFile() throws {
        for text in ["", "  \n "] {
            let e = try #require(error(text))
            #expect(e.message.hasPrefix("empty file"))
            #expect(e.event == nil)
        }
    }

    @Test func truncatedFile() throws {
        let whole = #"{"traceEvents":[{"ph":"X","name":"a","ts":1,"dur":2},{"ph":"X","name":"b","ts":3,"dur":4}]}"#
        let bytes = Array(whole.utf8)
        // Every proper prefix that is not blank fails, with an offset inside the prefix.
        for cut in 1..<bytes.count {
            let prefix = String(decoding: bytes[..<cut], as: UTF8.self)
            let e = try #require(error(prefix), "prefix of \(cut) bytes parsed")
            #expect(e.offset <= cut)
        }
        let e = try #require(error(String(whole.dropLast(5))))
        #expect(e.message.contains("truncated"))
        #expect(e.event == 1)
        #expect(e.description.hasPrefix("t.json: byte "))
    }

    @Test func notATrace() throws {
        let object = try #require(error(#"{"model":"resnet18","peak":3}"#))
        #expect(object.message.contains("not a trace"))
        #expect(object.message.contains("\"model\""))
        #expect(object.offset == 0)
        #expect(try #require(error("42")).message.contains("not a trace"))
        #expect(try #require(error(#"{"traceEvents":{"a":1}}"#)).message.contains("\"traceEvents\" is an object"))
        #expect(try #require(error("[1,2]")).message.contains("an event must be an object"))
        #expect(try #require(error("<html>")).message.contains("expected a value"))
        #expect(try #require(error("[] []")).message.contains("after the end"))
    }

    @Test func missingOrWronglyTypedFields() throws {
        let cases: [(String, String)] = [
            (#"[{"name":"a"}]"#, "without \"ph\""),
            (#"[{"ph":7}]"#, "\"ph\" is a number"),
            (#"[{"ph":"X","name":"a","ts":1}]"#, "has no \"dur\""),
            (#"[{"ph":"X","name":"a","ts":"1","dur":2}]"#, "\"ts\" is a string, expected a number"),
            (#"[{"ph":"X","ts":1,"dur":2}]"#, "has no \"name\""),
            (#"[{"ph":"X","name":3,"ts":1,"dur":2}]"#, "\"name\" is a number"),
            (#"[{"ph":"X","name":"a","ts":1,"dur":-2}]"#, "negative \"dur\""),
            (#"[{"ph":"i","name":"[memory]","ts":1}]"#, "has no \"args\""),
            (#"[{"ph":"i","name":"[memory]","ts":1,"args":{"Total Allocated":3}}]"#, "no \"args.Bytes\""),
            (#"[{"ph":"i","name":"[memory]","ts":1,"args":{"Bytes":"3"}}]"#, "\"args.Bytes\" is a string"),
            (#"[{"ph":"i","name":"[memory]","ts":1,"args":{"Bytes":1.5}}]"#, "expected an integer"),
            (
                #"[{"ph":"i","name":"[memory]","ts":1,"args":{"Bytes":4,"Total Allocated":null}}]"#,
                "Total Allocated\" is null"
            ),
            (#"[{"ph":"C","name":"c","ts":1,"args":{"x":"y"}}]"#, "\"args.x\" is a string"),
        ]
        for (text, message) in cases {
            let e = try #require(error(#"[{"ph":"M","name":"x"},"# + text.dropFirst()), "\(text) parsed")
            #expect(e.message.contains(message), "\(text): \(e.message)")
            #expect(e.event == 1, "\(text): event \(String(describing: e.event))")
            #expect(e.offset == 23, "\(text): offset \(e.offset)")
        }
    }

    @Test func malformedJSON() throws {
        let cases: [(String, String)] = [
            (#"[{"ph":"X" "name":"a"}]"#, "expected ',' or '}'"),
            (#"[{"ph":"X","name":"a\q"}]"#, "invalid escape"),
            (#"[{"ph":"X","dur":01}]"#, "invalid number"),
            (#"[{"ph":tru}]"#, "invalid literal"),
            ("[{\"ph\":\"a\u{01}\"}]", "raw control character"),
            (#"[{"ph":"M"},]"#, "expected a value"),
            // Args no summary reads are skipped, but still checked.
            (#"[{"ph":"X","args":{"Input type":["a\q"]}}]"#, "invalid escape"),
            (#"[{"ph":"X","args":{"Concrete Inputs":[1 2]}}]"#, "expected ',' or ']' in an array"),
        ]
        for (text, message) in cases {
            let e = try #require(error(text), "\(text) parsed")
            #expect(e.message.contains(message), "\(text): \(e.message)")
        }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try #require(error("{\"traceEvents\":[{\"a\":" + deep + "}]}")).message.contains("nested deeper"))
    }

    /// A runaway line: one event far longer than the reader's limit is refused after reading about the
    /// limit (here 1 MiB of a 3 MiB string; the default limit is 64 MiB, so a 1 GB line stops there).
    @Test func eventLongerThanTheLimit() throws {
        let big =
            #"[{"ph":"X","name":"ok","ts":0,"dur":1},{"ph":"X","name":""# + String(repeating: "a", count: 3 << 20)
            + #"","ts":1,"dur":1}]"#
        let e = try #require(error(big, limits: TraceReaderLimits(maxEventBytes: 1 << 20)))
        #expect(e.message.contains("longer than 1048576 bytes"))
        #expect(e.event == 1)
        #expect(e.offset == 39)
        // The same trace reads with the default limit.
        #expect(error(big) == nil)
    }

    /// A long line of many small events is no problem: the reader is not line-based.
    @Test func manyEventsOnOneLine() throws {
        let events = (0..<20_000).map { #"{"ph":"X","name":"op\#($0 % 7)","ts":\#($0),"dur":1}"# }
        let trace = try Fixture.trace(
            "[" + events.joined(separator: ",") + "]", limits: TraceReaderLimits(maxEventBytes: 1 << 10))
        #expect(trace.slices.count == 20_000)
        #expect(try TraceSummary(trace).ops.count == 7)
    }

    @Test func unreadableFile() throws {
        #expect(throws: TraceReadError.self) { try Trace.read(path: "/nonexistent/trace.json") }
        #expect(throws: TraceReadError.self) { try Trace.read(path: "/tmp") }
    }
}
