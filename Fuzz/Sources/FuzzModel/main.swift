// libFuzzer entry point for the model language. Any input must end in a graph or in diagnostics:
// a trap, a crash, a leak or a timeout is a finding (scripts/fuzz turns findings into regression tests).
import Frontend
import FuzzDriver
import Glibc
import GraphIR

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzModel(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let model = try? ModelDescription.compile(source: bytes, file: "fuzz.model") {
        // A graph that compiled must verify and round-trip through the text format.
        precondition(
            Verifier.verify(model.graph).allSatisfy { $0.severity != .error }, "compiled graph does not verify")
        let text = IRPrinter.print(model.graph)
        guard let parsed = try? IRParser.parse(Array(text.utf8), file: "fuzz.gir") else {
            preconditionFailure("printed IR does not parse")
        }
        precondition(IRPrinter.print(parsed) == text, "IR print → parse → print differs")
    }
    return 0
}

// The entry point: libFuzzer's driver, with this target's `LLVMFuzzerTestOneInput`.
exit(runFuzzer(CommandLine.argc, CommandLine.unsafeArgv, fuzzModel))
