import Foundation
import Testing

/// analyze, compare, timeline and dot --training end to end: the JSON contract, the study's findings,
/// pictures, and impossible requests.
@Suite struct TrainingCLITests {
    static func analyze(_ args: [String]) throws -> [String: Any] {
        try CLI.json(["analyze"] + args + ["--format", "json"])
    }

    @Test func analyzeJSONHasTheDocumentedKeys() throws {
        let j = try Self.analyze(["resnet18", "--method", "lora", "--rank", "8", "--classes", "10"])
        for key in [
            "model", "method", "rank", "batch", "optimizer", "params", "trainable_params", "flops", "macs",
            "saved_activation_bytes", "memory", "saving", "bn", "weights_dtype", "activations_dtype",
            "saved_input_bytes", "saved_weight_derived_bytes", "saving_policies",
        ] {
            #expect(j[key] != nil, "\(key)")
        }
        #expect(j["method"] as? String == "lora")
        #expect(j["rank"] as? Int == 8)
        #expect(j["optimizer"] as? String == "adam")
        #expect(j["trainable_params"] as? Int == 292_514)
        let flops = try #require(j["flops"] as? [String: Int]), macs = try #require(j["macs"] as? [String: Int])
        for key in ["forward", "backward", "optimizer", "svd", "total"] {
            #expect(flops[key] != nil && macs[key] != nil, "\(key)")
        }
        #expect(flops["total"] == flops["forward"]! + flops["backward"]! + flops["optimizer"]! + flops["svd"]!)
        let memory = try #require(j["memory"] as? [String: Any])
        for key in ["peak_bytes", "lower_bound_bytes", "arena_bytes", "category_max_total_bytes", "at_peak"] {
            #expect(memory[key] != nil, "\(key)")
        }
        let atPeak = try #require(memory["at_peak"] as? [String: Int])
        #expect(
            Set(atPeak.keys) == [
                "parameters", "buffers", "gradients", "optimizer_state", "activations",
                "temporaries", "input",
            ])
        #expect(atPeak.values.reduce(0, +) == memory["peak_bytes"] as? Int)
        let arena = try #require(memory["arena_bytes"] as? Int),
            bound = try #require(memory["lower_bound_bytes"] as? Int)
        #expect(arena >= bound && Double(arena) <= 1.02 * Double(bound))
    }

    @Test func forwardMACsEqualInspect() throws {
        let inspect = try CLI.json(["inspect", "mobilenet_v2", "--format", "json"])
        let j = try Self.analyze(["mobilenet_v2", "--method", "fft"])
        #expect((j["macs"] as? [String: Int])?["forward"] == inspect["macs"] as? Int)
    }

    @Test func savedActivationsMatchPyTorch() throws {
        // ../shared/fixtures/saved_activations_by_method.json (PassesTests/Fixtures): resnet18 at batch 8,
        // 3x224x224, 1000 classes, under the default --saving pytorch; the batch and labels count apart.
        let fft = try Self.analyze(["resnet18", "--batch", "8"])
        #expect(fft["saving"] as? String == "pytorch" && fft["bn"] as? String == "train")
        #expect(fft["saved_activation_bytes"] as? Int == 172_692_228)
        #expect(fft["saved_input_bytes"] as? Int == 4_816_960)
        let bnh = try Self.analyze(["resnet18", "--method", "bnh", "--batch", "8"])
        #expect(bnh["saved_activation_bytes"] as? Int == 172_692_228)
        #expect(bnh["saved_input_bytes"] as? Int == 64)
        // Head only: fc's input (8x512 f32), log_softmax's result (8x1000 f32) and nll_loss's scalar.
        #expect(
            try Self.analyze(["resnet18", "--method", "head", "--batch", "8"])["saved_activation_bytes"] as? Int
                == 16_384 + 32_000 + 4)
    }

    /// compare --saving pytorch,lean: one row per policy and method, each against FFT under its policy;
    /// lean keeps less for MobileNetV2's frozen convs and its ReLU6s.
    @Test func compareSweepsSavingPolicies() throws {
        let r = try CLI.run([
            "compare", "mobilenet_v2", "--methods", "fft,bnh", "--classes", "10", "--saving", "pytorch,lean",
            "--format", "csv",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let header = lines[0].map(String.init)
        let saving = try #require(header.firstIndex(of: "saving")),
            method = try #require(header.firstIndex(of: "method"))
        let peak = try #require(header.firstIndex(of: "peak_bytes"))
        var peaks: [String: Int] = [:]
        for row in lines.dropFirst() { peaks["\(row[saving]) \(row[method])"] = Int(row[peak]) }
        #expect(peaks.count == 4)
        // Lean packs ReLU6's saved BN outputs to bits, even under FFT.
        #expect(try #require(peaks["lean fft"]) < #require(peaks["pytorch fft"]))
        #expect(try #require(peaks["lean bnh"]) < #require(peaks["pytorch bnh"]))
        let table = try CLI.run(["compare", "mobilenet_v2", "--methods", "bnh", "--saving", "lean"])
        #expect(table.stdout.hasPrefix("Saving lean · BN train · weights f32 · activations f32\n"))
    }

    /// An empty or repeated --saving or --methods list would give no rows or duplicate rows: refused.
    @Test func compareRejectsEmptyAndDuplicateLists() throws {
        for (args, message) in [
            (["--saving", ""], "--saving needs at least one saving policy, got ''"),
            (["--saving", " , "], "--saving needs at least one saving policy, got ' , '"),
            (["--saving", "pytorch,pytorch"], "--saving lists a saving policy twice: 'pytorch,pytorch'"),
            (["--saving", "lean, pytorch,lean"], "--saving lists a saving policy twice: 'lean, pytorch,lean'"),
            (["--methods", ""], "--methods needs at least one method, got ''"),
            (["--methods", "fft,lora,fft"], "--methods lists a method twice: 'fft,lora,fft'"),
        ] {
            let r = try CLI.run(["compare", "small_resnet"] + args)
            #expect(r.status == 1, "\(args)")
            #expect(r.stdout.isEmpty, "\(args)")
            let lines = r.stderr.split(separator: "\n")
            #expect(
                lines.first == "Error: \(message)" || lines.first.map { $0.hasSuffix(message) } == true, "\(r.stderr)")
        }
        let ok = try CLI.run([
            "compare", "small_resnet", "--methods", "head", "--saving", "pytorch,lean", "--format", "csv",
        ])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.split(separator: "\n").count == 3, "a header and one row per policy: \(ok.stdout)")
    }

    /// The study's findings: ResNet-18 and MobileNetV2, batch 1, 224x224, Adam.
    @Test func theStudysFindingsHold() throws {
        func peak(_ model: String, _ args: [String]) throws -> Double {
            let memory = try Self.analyze([model] + args)["memory"] as? [String: Any]
            return Double(memory?["peak_bytes"] as? Int ?? 0)
        }
        let r18 = try peak("resnet18", ["--method", "fft"]), r18lora = try peak("resnet18", ["--method", "lora"])
        let r18dora = try peak("resnet18", ["--method", "dora"])
        let mnv2 = try peak("mobilenet_v2", ["--method", "fft"]),
            mnv2lora = try peak("mobilenet_v2", ["--method", "lora"])
        #expect(r18lora < 0.5 * r18, "LoRA saves more than half of ResNet-18's peak")
        #expect(mnv2lora > 0.7 * mnv2, "but less than 30% of MobileNetV2's")
        #expect(r18dora > r18lora, "DoRA costs more memory than LoRA")
    }

    @Test func compareFormats() throws {
        let r = try CLI.run([
            "compare", "small_resnet", "small_mobilenet", "--methods", "fft,bnh,lora", "--ranks", "2,4",
            "--format", "csv",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1 + 2 * (1 + 1 + 2))
        #expect(lines[0].hasPrefix("model,batch,method,rank,optimizer,trainable_params,trainable_vs_fft_pct"))
        #expect(lines[1].contains("small_resnet,1,fft,,adam,77754,0.00"))
        let json = try CLI.run([
            "compare", "small_resnet", "--methods", "head,galore", "--batch", "1,4", "--format", "json",
        ])
        let rows = try #require(try JSONSerialization.jsonObject(with: json.stdoutData) as? [[String: Any]])
        #expect(rows.count == 4)
        #expect(rows.allSatisfy { $0["peak_vs_fft_pct"] is Double && $0["step_flops"] is Int })
    }

    @Test func picturesRenderInProcess() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for ext in ["png", "svg"] {
            let timeline = dir.appendingPathComponent("timeline.\(ext)"),
                step = dir.appendingPathComponent("step.\(ext)")
            let plot = dir.appendingPathComponent("compare.\(ext)")
            #expect(try CLI.run(["timeline", "resnet18", "--method", "lora", "-o", timeline.path]).status == 0)
            #expect(try CLI.run(["dot", "resnet18", "--training", "--method", "lora", "-o", step.path]).status == 0)
            #expect(try CLI.run(["compare", "resnet18", "--methods", "fft,lora", "--plot", plot.path]).status == 0)
            for file in [timeline, step, plot] {
                let data = try Data(contentsOf: file)
                #expect(data.count > (file == plot ? 2_000 : 10_000), "\(file.lastPathComponent)")
                if ext == "png" {
                    #expect(Array(data.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
                } else {
                    let text = String(decoding: data, as: UTF8.self)
                    #expect(text.contains("<svg") && text.contains("</svg>"))
                }
            }
        }
        let svg = try String(contentsOf: dir.appendingPathComponent("timeline.svg"), encoding: .utf8)
        #expect(svg.contains("peak"))
        let dot = try CLI.run(["dot", "small_resnet", "--training", "--method", "lora", "--rank", "2"])
        #expect(dot.stdout.contains("lora_A") && dot.stdout.contains("grad"))
    }

    @Test func releaseGradsLowersResNet18Peak() throws {
        let base = try Self.analyze(["resnet18"])["memory"] as? [String: Any]
        let released = try Self.analyze(["resnet18", "--release-grads"])["memory"] as? [String: Any]
        #expect((released?["peak_bytes"] as? Int ?? .max) < (base?["peak_bytes"] as? Int ?? 0))
    }

    @Test func printIRAfterAPass() throws {
        let r = try CLI.run(["analyze", "small_resnet", "--method", "lora", "--rank", "2", "--print-ir-after", "lora"])
        #expect(r.status == 0)
        #expect(r.stderr.contains("// IR after lora"))
        #expect(r.stderr.contains("lora_a"))
        #expect(!r.stderr.contains("// IR after autodiff"))
    }

    @Test(arguments: [
        (["--method", "lora", "--rank", "0"], "rank"),
        (["--method", "lora", "--rank", "100"], "bad-rank"),
        (["--method", "galore", "--rank", "64"], "rank-too-large"),
        (["--method", "lorax"], "lorax"),
        (["--optimizer", "adagrad"], "adagrad"),
        (["--method", "bnh", "--train", "layer9.*"], "selector-matches-nothing"),
        (["--method", "galore", "--optimizer", "sgd"], "GaLore"),
        (["--print-ir-after", "inline"], "inline"),
    ])
    func impossibleRequestsExit1(_ args: [String], _ mention: String) throws {
        let r = try CLI.run(["analyze", "small_resnet"] + args)
        #expect(r.status == 1, "\(args): \(r.stderr)")
        #expect(r.stderr.contains(mention), "\(args): \(r.stderr)")
        #expect(r.stdout.isEmpty)
    }
}
