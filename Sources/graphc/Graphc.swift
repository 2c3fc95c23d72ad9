import ArgumentParser
import Foundation

@main
struct Graphc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graphc",
        abstract: "Compile CNNs into a verified graph IR and count what fine-tuning them costs.",
        discussion: """
            MODEL is a zoo name (see `graphc zoo`) or a path to a model description (.model) or \
            textual IR (.gir) file. Zoo models match torchvision layer for layer.

            Examples:
              graphc zoo
              graphc inspect resnet18 --input 3x224x224 --classes 10
              graphc analyze resnet18 --method lora --rank 8 --classes 10
              graphc compare resnet18 mobilenet_v2 --methods fft,lora,dora --plot compare.png
              graphc timeline resnet18 --method fft --release-grads -o timeline.png
              graphc dot resnet18 -o resnet18.svg
              graphc verify examples/models/small_resnet.model
              graphc opt small_resnet --passes freeze,lora,autodiff,optimizer,dce --rank 4
              graphc trace summary prof.json --top 20
            """,
        version: "0.1.0",
        subcommands: [
            ZooCommand.self, Inspect.self, Analyze.self, Compare.self, Timeline.self, Dot.self, Verify.self,
            PrintIR.self, Opt.self, Run.self, Train.self, StudyCommand.self, ExportONNX.self, Bench.self,
            BenchStep.self, TraceCommand.self,
        ]
    )

    /// As ArgumentParser's, except that a usage error (an unknown method, a bad rank) exits with status 1
    /// like every other bad input, not 64.
    static func main() {
        tuneAllocator()
        StandardStream.guardClosedStreams()
        Temporaries.install()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            // As ArgumentParser's exit(withError:), through the checked streams.
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if code == .success { printOut(message) } else { printError(message) }
            }
            Foundation.exit(code == .validationFailure ? 1 : code.rawValue)
        }
    }
}

/// graphc builds and drops graphs of up to millions of values, each pass a fresh copy. glibc returns
/// large blocks to the kernel (mmap/munmap, heap trimming) as soon as they are freed, so the next pass
/// faults the same pages in again, zero-filled: a sixth of the compile time of a 100,000-node chain.
/// Keeping freed memory in the process avoids that; peak memory is unchanged (it is still the largest
/// set of live graphs).
private func tuneAllocator() {
    #if os(Linux)
        // Large blocks come from the heap, not from their own mappings (M_MMAP_THRESHOLD is capped at 32 MiB,
        // below a big graph's node array), and the heap is never trimmed.
        _ = glibcMallopt(-4 /* M_MMAP_MAX */, 0)
        _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, Int32.max)
    #endif
}

#if os(Linux)
    /// glibc's `int mallopt(int param, int value)` (malloc.h is not part of the Glibc module).
    @_silgen_name("mallopt")
    private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
