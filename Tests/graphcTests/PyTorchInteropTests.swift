import Executor
import Foundation
import GraphIR
import Testing

/// graphc's checkpoints in PyTorch and back, when Debian's python3-torch is installed: a graphc
/// checkpoint of small_resnet loads into the PyTorch model (Tests/PyTorch/small_resnet.py) with
/// load_state_dict(strict=True) and gives graphc's logits; PyTorch's state dict, written as
/// safetensors, loads into `graphc run` and gives PyTorch's logits.
@Suite struct PyTorchInteropTests {
    /// The first Python that imports torch: `python3` on the PATH, else Debian's (a pyenv or venv
    /// python3 earlier on the PATH does not see python3-torch).
    static var python: String? {
        ["python3", "/usr/bin/python3"].first { python in
            (try? CLI.shell("\(python) -c 'import torch' 2>/dev/null"))?.status == 0
        }
    }

    @Test func smallResnetCheckpointsLoadBothWays() throws {
        guard let python = Self.python else {
            print("skipped: PyTorch is not installed (apt-get install python3-torch)")
            return
        }
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let graph = try RunCLITests.graph(batch: 4)
        try Data(RunCLITests.weights(graph, seed: 21).serialized()).write(
            to: URL(fileURLWithPath: path("graphc.safetensors")))
        try Data(RunCLITests.inputs(4, seed: 5).encoded).write(to: URL(fileURLWithPath: path("x.npy")))
        let ours = try CLI.run([
            "run", "small_resnet", "--input", path("x.npy"), "--init", path("graphc.safetensors"),
            "-o", path("graphc_logits.npy"),
        ])
        #expect(ours.status == 0, "\(ours.stderr)")

        let script = CLI.packageRoot.appendingPathComponent("Tests/PyTorch/small_resnet.py").path
        let torch = try CLI.shell(
            "\(python) '\(script)' '\(path("graphc.safetensors"))' '\(path("x.npy"))' "
                + "'\(path("graphc_logits.npy"))' '\(path("torch.safetensors"))' '\(path("torch_logits.npy"))'")
        #expect(torch.status == 0, "\(torch.stdout)\(torch.stderr)")
        guard torch.status == 0 else { return }

        // PyTorch's state dict in graphc: three training batches ran, so num_batches_tracked is 3.
        let fromTorch = try Checkpoint.read(path("torch.safetensors"))
        let runner = ReferenceRunner(graph)
        #expect(
            try fromTorch.load(into: graph, file: "torch") { runner.parameter(named: graph[$0].name)!.view }.steps == 3)
        let theirs = try CLI.run([
            "run", "small_resnet", "--input", path("x.npy"), "--init", path("torch.safetensors"),
            "-o", path("torch_in_graphc.npy"),
        ])
        #expect(theirs.status == 0, "\(theirs.stderr)")
        let a = try RunCLITests.logits(URL(fileURLWithPath: path("torch_in_graphc.npy")))
        let b = try RunCLITests.logits(URL(fileURLWithPath: path("torch_logits.npy")))
        #expect(a.count == b.count && RunCLITests.relative(a, b) < 1e-4, "\(RunCLITests.relative(a, b))")
    }
}
