import GraphIR

// check-plan: runs a graph planned (one arena) and unplanned (`ReferenceRunner`, every value in its own
// allocation) over the same steps and demands bit-identical results.
//
// 1. Static checks (unless turned off): no two placements live at a common step overlap
//    (`MemoryPlan.firstConflict`); every placed tensor is live, by its planned interval, at every step
//    that writes or reads it (views and in-place results count for their root); a graph output in the
//    arena lives to the last step. A plan failing these is reported without running: a wrong interval
//    over pooling indices would send the kernels' scatter out of bounds.
// 2. Both runners start from the same parameters (`initialize` fills the reference's; the planned
//    runner copies them) and take the same inputs per step, step counter and seed (dropout masks,
//    GaLore's projector refresh). Per step the reference runs first; then the planned run, poisoned:
//    the whole arena is NaN before the step, each tensor's bytes become NaN after its planned last step,
//    each node's scratch is NaN before it runs. After each planned node, its results are compared with
//    the reference's, byte for byte (bit patterns: NaN == NaN only when the bits agree, -0 != +0);
//    after each step, every parameter, buffer and optimizer state. The first difference ends the check.
// A tensor whose interval ends too early is read as NaN by a later node, whose result then differs; a
// plan that overlaps live tensors lets one clobber the other, likewise.
#if canImport(Glibc)
    import Glibc
#endif

/// What `PlannedRunner.checkPlan` found.
public struct PlanCheckReport: Sendable, CustomStringConvertible {
    /// The first difference between the planned and the reference run.
    public struct Difference: Sendable, Hashable {
        /// The 1-based training step.
        public var step: Int
        /// The schedule step (node index) whose result differed; nil for state compared after the step.
        public var scheduleStep: Int?
        public var value: ValueID
        public var name: String
        /// The node that defined it, if it is a result.
        public var node: String?
        /// The first differing element and its bit patterns (f32: the float's bits; i64, bool: the value).
        public var element: Int
        public var expectedBits: UInt64
        public var actualBits: UInt64
    }

    /// A problem of the plan found without running.
    public enum StaticProblem: Sendable, Hashable {
        /// Two placements live at a common step share bytes.
        case overlap(ValueID, ValueID)
        /// The tensor is written or read at `step`, outside its planned `first ... last`.
        case outsideInterval(ValueID, step: Int, first: Int, last: Int)
    }

    /// Training steps compared (completed or not).
    public var steps: Int
    /// The reference's losses (the first graph output, if a scalar f32), per step run.
    public var losses: [Float] = []
    /// Node results and parameters compared, and their bytes.
    public var comparedTensors = 0
    public var comparedBytes = 0
    public var staticProblem: StaticProblem?
    public var difference: Difference?
    /// Names, for the description.
    var names: [String] = []

    /// Bit-identical over every step, no static problem.
    public var passed: Bool { staticProblem == nil && difference == nil }

    public var description: String {
        if let p = staticProblem {
            switch p {
            case let .overlap(a, b):
                return "check-plan: '\(names[a.raw])' and '\(names[b.raw])' overlap while both are live"
            case let .outsideInterval(v, step, first, last):
                return
                    "check-plan: '\(names[v.raw])' is used at step \(step), outside its planned steps \(first) ... \(last)"
            }
        }
        if let d = difference {
            let at =
                d.scheduleStep.map { "node '\(d.node ?? "?")' (schedule step \($0))" } ?? "the state after the step"
            return "check-plan: '\(d.name)' differs at training step \(d.step), \(at): element \(d.element) is "
                + "0x\(String(d.actualBits, radix: 16)), the reference 0x\(String(d.expectedBits, radix: 16))"
        }
        return "check-plan: \(steps) steps bit-identical (\(comparedTensors) tensors, \(comparedBytes) bytes compared)"
    }
}

extension PlannedRunner {
    /// Runs `graph` planned by `plan` and unplanned for `steps` steps and compares them bit for bit (see
    /// the file comment). `initialize` fills each parameter's storage once (it starts zeroed);
    /// `inputs(step)` gives the inputs of 1-based step `step` to both runs.
    public static func checkPlan(
        _ graph: Graph, plan: MemoryPlan, steps: Int = 2, seed: UInt64 = 0,
        staticChecks: Bool = true,
        initialize: (ValueID, TensorView) throws -> Void = { _, _ in },
        inputs: (Int) throws -> [HostTensor]
    ) throws -> PlanCheckReport {
        let planned = try PlannedRunner(graph, plan: plan, seed: seed)
        var report = PlanCheckReport(steps: 0)
        report.names = graph.values.map(\.name)
        if staticChecks, let problem = planned.staticProblem() {
            report.staticProblem = problem
            return report
        }
        var reference = ReferenceRunner(graph, seed: seed)
        for p in graph.parameters {
            let mine = reference.parameter(p)!
            try initialize(p, mine.view)
            planned.ownedTensor(p)!.copy(from: mine.view)
        }
        for s in 1...max(steps, 1) {
            report.steps = s
            let x = try inputs(s)
            let expected = try reference.run(x)
            if let loss = graph.outputs.first.flatMap({ expected[$0] }), loss.view.dtype == .f32, loss.view.count == 1 {
                report.losses.append(loss.view.f32[0])
            }
            var difference: PlanCheckReport.Difference?
            let checking = Checking(poison: true) { t, node, results in
                for (k, id) in node.outputs.enumerated() {
                    let want = expected[id]!.view
                    report.comparedTensors += 1
                    report.comparedBytes += want.byteCount
                    if let (element, e, a) = firstDifference(want, results[k]) {
                        difference = .init(
                            step: s, scheduleStep: t, value: id, name: graph[id].name, node: node.name,
                            element: element, expectedBits: e, actualBits: a)
                        return false
                    }
                }
                return true
            }
            _ = try planned.run(x, checking: checking)
            if difference == nil {
                for p in graph.parameters {
                    let want = reference.parameter(p)!.view
                    report.comparedTensors += 1
                    report.comparedBytes += want.byteCount
                    if let (element, e, a) = firstDifference(want, planned.ownedTensor(p)!.view) {
                        difference = .init(
                            step: s, scheduleStep: nil, value: p, name: graph[p].name, node: nil,
                            element: element, expectedBits: e, actualBits: a)
                        break
                    }
                }
            }
            if let difference {
                report.difference = difference
                return report
            }
        }
        return report
    }

    /// The first static problem of the plan against the graph (see PlanCheck.swift), if any.
    func staticProblem() -> PlanCheckReport.StaticProblem? {
        if let (a, b) = plan.firstConflict() { return .overlap(a.value, b.value) }
        let last = max(graph.nodes.count - 1, 0)
        func check(_ id: ValueID, at t: Int) -> PlanCheckReport.StaticProblem? {
            guard let i = placementIndex[root[id.raw]] else { return nil }
            let p = plan.placements[i]
            return p.bytes > 0 && (t < p.first || t > p.last)
                ? .outsideInterval(ValueID(root[id.raw]), step: t, first: p.first, last: p.last) : nil
        }
        for (t, node) in graph.nodes.enumerated() {
            for id in node.inputs { if let problem = check(id, at: t) { return problem } }
            for id in node.outputs { if let problem = check(id, at: t) { return problem } }
        }
        for id in graph.outputs { if let problem = check(id, at: last) { return problem } }
        return nil
    }
}

/// The first element whose bytes differ, with both bit patterns; nil if the views are byte-identical.
func firstDifference(_ expected: TensorView, _ actual: TensorView) -> (Int, UInt64, UInt64)? {
    precondition(
        expected.byteCount == actual.byteCount && expected.dtype == actual.dtype, "compare: mismatched tensors")
    if memcmp(expected.base, actual.base, expected.byteCount) == 0 { return nil }
    let size = expected.dtype.size
    for i in 0..<(expected.byteCount / size) {
        var e: UInt64 = 0, a: UInt64 = 0
        withUnsafeMutableBytes(of: &e) {
            $0.copyMemory(from: UnsafeRawBufferPointer(start: expected.base + i * size, count: size))
        }
        withUnsafeMutableBytes(of: &a) {
            $0.copyMemory(from: UnsafeRawBufferPointer(start: actual.base + i * size, count: size))
        }
        if e != a { return (i, e, a) }
    }
    return nil
}
