// libFuzzer entry point for the .gir text format. Any input must parse to a verified graph or give
// diagnostics; a parsed graph must print and parse back to the same text.
import FuzzDriver
import Glibc
import GraphIR

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzIR(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let graph = try? IRParser.parse(bytes, file: "fuzz.gir") {
        let text = IRPrinter.print(graph)
        guard let again = try? IRParser.parse(Array(text.utf8), file: "fuzz.gir") else {
            preconditionFailure("printed IR does not parse")
        }
        precondition(IRPrinter.print(again) == text, "IR print → parse → print differs")
    }
    return 0
}

// The entry point: libFuzzer's driver, with this target's `LLVMFuzzerTestOneInput`.
exit(runFuzzer(CommandLine.argc, CommandLine.unsafeArgv, fuzzIR))
