import GraphIR

/// The built-in model zoo: the description files of `examples/models`, embedded in the binary so that
/// `graphc inspect resnet18` works from any directory. `scripts/embed-zoo` regenerates the table.
public enum Zoo {
    /// Model names, sorted.
    public static var names: [String] { sources.keys.sorted() }

    /// The description source of a zoo model, or nil if there is none by that name.
    public static func source(named name: String) -> String? { sources[name] }

    /// The pseudo file name diagnostics use for a zoo model (`zoo:resnet18.model`).
    public static func fileName(of name: String) -> String { "zoo:\(name).model" }

    /// Compiles a zoo model.
    public static func compile(_ name: String, overrides: ModelOverrides = .init()) throws -> CompiledModel {
        guard let text = sources[name] else {
            throw DiagnosticError([
                .error(
                    "unknown-model",
                    "no zoo model named '\(name)'; the zoo has: "
                        + names.joined(separator: ", "))
            ])
        }
        return try ModelDescription.compile(source: Array(text.utf8), file: fileName(of: name), overrides: overrides)
    }
}
