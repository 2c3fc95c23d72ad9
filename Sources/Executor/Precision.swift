import GraphIR

/// The executor's kernels read and write f32 (and i64 / bool) storage only. A graph whose frozen
/// weights or activations `set-precision` stored as f16, bf16 or qi8 is refused before anything is
/// bound, with the first such value named, rather than read as if its bytes were f32.
public enum ExecutorPrecision {
    /// Why the executor cannot run `graph`, or nil when every value is stored as it is computed.
    public static func refusal(_ graph: Graph) -> String? {
        guard let v = graph.values.first(where: { $0.type.dtype.isReducedPrecision }) else { return nil }
        return "the executor runs f32 storage only, and '\(v.name)' in '\(graph.name)' is "
            + "\(v.type); reduced precision (--weights, --activations) is for analyze, compare, timeline and dot"
    }
}
