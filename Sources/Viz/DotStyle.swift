// How DotExport draws things: the role of each node (its colour and shape), the text of its label,
// and the escaping and number formatting that keep the DOT text deterministic.
//
// The palette is Paul Tol's colour-blind-safe "light" scheme, extended with a few of his "pale"
// and "muted" colours, all light enough for black text. Colour is never the only cue: roles that
// share a hue family differ in shape (inputs are houses, pooling rounded boxes, elementwise ops
// ellipses, the loss an octagon, collapsed blocks 3-D boxes) or in border (grouped convs double).
import GraphIR
import Passes

/// What a drawn node is, for its colour, shape and legend entry.
public enum DotRole: String, Sendable, Hashable, CaseIterable {
    case input
    case conv
    /// A grouped convolution; depthwise when groups equal the input channels.
    case depthwise
    case norm
    case activation
    case pooling
    case elementwise
    case shape
    case linear
    /// A linear layer that feeds the graph's output (or its loss) through parameter-free ops only.
    case head
    case dropout
    case loss
    /// An unfolded parameter or buffer.
    case parameter
    /// A block instance collapsed into one summary node (`DotOptions.collapseDepth`).
    case block
    case output
    /// Ops on weights rather than activations: adapter composition (DoRA), GaLore's projections.
    case weightSpace = "weight_space"
    /// A backward (gradient) op.
    case gradient
    /// An optimizer update.
    case optimizer
    /// GaLore's SVD projector.
    case svd

    /// The legend's text for the role.
    public var title: String {
        switch self {
        case .input: "input"
        case .conv: "conv"
        case .depthwise: "depthwise / grouped conv"
        case .norm: "norm"
        case .activation: "activation"
        case .pooling: "pooling"
        case .elementwise: "elementwise (add, mul)"
        case .shape: "shape"
        case .linear: "linear"
        case .head: "head (final linear)"
        case .dropout: "dropout"
        case .loss: "loss"
        case .parameter: "parameter"
        case .block: "collapsed block"
        case .output: "output"
        case .weightSpace: "weight-space (adapters, projections)"
        case .gradient: "gradient"
        case .optimizer: "optimizer update"
        case .svd: "SVD projector"
        }
    }

    /// Fill colour; unique per role, so a drawing's colours identify its roles.
    public var fillColor: String {
        switch self {
        case .input: "#EEDD88"
        case .conv: "#77AADD"
        case .depthwise: "#99DDFF"
        case .norm: "#BBCC33"
        case .activation: "#EE8866"
        case .pooling: "#44BB99"
        case .elementwise: "#FFAABB"
        case .shape: "#FFFFFF"
        case .linear: "#BBCCEE"
        case .head: "#CC6677"
        case .dropout: "#F4F4F4"
        case .loss: "#FFCCCC"
        case .parameter: "#DDDDDD"
        case .block: "#CCDDAA"
        case .output: "#DDCC77"
        case .weightSpace: "#99DDAA"
        case .gradient: "#DDBBDD"
        case .optimizer: "#E8D8B0"
        case .svd: "#E6B38A"
        }
    }

    /// DOT node attributes beyond the fill colour: shape and border.
    var shapeAttributes: String { Self.attributes(shape: shape, styles: styles, extras: extras) }

    /// `shape=box, style="filled,dashed", penwidth=2`: the style line only when it adds to `filled`.
    static func attributes(shape: String, styles: [String], extras: [String]) -> String {
        var text = "shape=\(shape)"
        if !styles.isEmpty { text += ", style=\"" + (["filled"] + styles).joined(separator: ",") + "\"" }
        for extra in extras { text += ", " + extra }
        return text
    }

    var shape: String {
        switch self {
        case .input: "invhouse"
        case .output: "house"
        case .conv, .norm, .activation, .shape, .linear, .depthwise, .head, .dropout, .pooling, .weightSpace,
            .gradient:
            "box"
        case .elementwise: "ellipse"
        case .loss: "octagon"
        case .parameter: "note"
        case .block: "box3d"
        case .optimizer: "cds"
        case .svd: "hexagon"
        }
    }

    /// Styles beside `filled`.
    var styles: [String] {
        switch self {
        case .dropout: ["dashed"]
        case .pooling, .weightSpace: ["rounded"]
        case .input, .output, .conv, .norm, .activation, .shape, .linear, .depthwise, .head, .elementwise, .loss,
            .parameter, .block, .gradient, .optimizer, .svd:
            []
        }
    }

    /// Attributes after the shape and style.
    var extras: [String] {
        switch self {
        case .depthwise: ["peripheries=2"]
        case .head: ["penwidth=2"]
        case .parameter: ["fontsize=8", "height=0.2", "color=\"#888888\""]
        case .block: ["margin=\"0.12,0.08\""]
        case .input, .output, .conv, .norm, .activation, .shape, .linear, .dropout, .pooling, .elementwise, .loss,
            .weightSpace, .gradient, .optimizer, .svd:
            []
        }
    }
}

extension DotRole {
    /// The role a node of `kind` is drawn with.
    init(_ kind: LayerKind) {
        switch kind {
        case .conv: self = .conv
        case .depthwise: self = .depthwise
        case .norm: self = .norm
        case .activation: self = .activation
        case .pooling: self = .pooling
        case .elementwise: self = .elementwise
        case .shape: self = .shape
        case .linear: self = .linear
        case .head: self = .head
        case .dropout: self = .dropout
        case .loss: self = .loss
        case .weightSpace: self = .weightSpace
        case .gradient: self = .gradient
        case .optimizer: self = .optimizer
        case .svd: self = .svd
        }
    }
}

extension DotExport {
    /// The op with its key attributes: `conv2d 3x3 /2 64→128`, `dw 3x3 32`, `bn`, `relu`.
    static func opText(_ node: Node, in graph: Graph) -> String {
        func shape(_ i: Int) -> Shape { graph[node.inputs[i]].type.shape }
        switch node.op {
        case let .conv2d(a):
            let w = shape(1), cin = shape(0)[1], cout = w[0]
            var text = "\(w[2])x\(w[3])" + pair(a.stride, prefix: " /") + pair(a.dilation, prefix: " d")
            if a.groups == 1 {
                text = "conv2d \(text) \(cin)→\(cout)"
            } else if a.groups == cin {
                text = "dw \(text) " + (cin == cout ? "\(cin)" : "\(cin)→\(cout)")
            } else {
                text = "conv2d \(text) g\(a.groups) \(cin)→\(cout)"
            }
            return text
        case let .batchNorm(a):
            return a.training ? "bn (train)" : "bn"
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add:
            return node.op.name
        case .mul:
            let broadcast = node.inputs.contains { graph[$0].type.shape != graph[node.outputs[0]].type.shape }
            return broadcast ? "mul (broadcast)" : "mul"
        case let .maxPool2d(a):
            return "maxpool \(a.kernel.h)x\(a.kernel.w)" + pair(a.stride, prefix: " /")
        case let .avgPool2d(a):
            return "avgpool \(a.kernel.h)x\(a.kernel.w)" + pair(a.stride, prefix: " /")
        case let .adaptiveAvgPool2d(out):
            return "adaptive avgpool →\(out.h)x\(out.w)"
        case let .flatten(start):
            return start == 1 ? "flatten" : "flatten from \(start)"
        case .linear:
            return "linear \(shape(1)[1])→\(shape(1)[0])"
        case let .dropout(p):
            return "dropout \(NumberFormat.trimmed(p))"
        case .softmaxCrossEntropy:
            return "softmax cross-entropy"
        case let .nativeBatchNorm(a):
            return a.training ? "bn (train)" : "bn"
        case let .maxPool2dWithIndices(a):
            return "maxpool \(a.kernel.h)x\(a.kernel.w)" + pair(a.stride, prefix: " /") + " +indices"
        case let .nativeDropout(p):
            return "dropout \(NumberFormat.trimmed(p)) +mask"
        case let .scale(c):
            return "× \(NumberFormat.trimmed(c))"
        case let .matmul(ta, tb):
            return "matmul" + (ta ? " Aᵀ" : "") + (tb ? " Bᵀ" : "")
        case .conv2dGradInput, .conv2dGradWeight, .biasGrad, .batchNormGrad, .activationGrad, .maxPool2dGrad,
            .avgPool2dGrad, .adaptiveAvgPool2dGrad, .linearGradInput, .linearGradWeight, .dropoutGrad,
            .softmaxCrossEntropyGrad, .sumTo, .div, .channelNorm, .reshape, .momentumUpdate, .sgdUpdate,
            .adamUpdate, .adamDirection, .applyUpdate, .activationMask, .reluMaskGrad, .batchNormFrozenGrad:
            return String(node.op.name.map { $0 == "_" ? " " : $0 })
        case let .svdProjector(a):
            return "svd rank \(a.rank) every \(a.gap)"
        case let .concat(axis):
            return "concat dim \(axis)"
        case let .slice(axis, start, length):
            return "slice dim \(axis) [\(start)..<\(start + length)]"
        }
    }

    /// A one-word op name for summaries of collapsed blocks: `conv`, `dw`, `bn`, `relu`, `maxpool`.
    static func shortName(_ node: Node, in graph: Graph) -> String {
        switch node.op {
        case let .conv2d(a):
            if a.groups == 1 { return "conv" }
            return a.groups == graph[node.inputs[0]].type.shape[1] ? "dw" : "gconv"
        case .batchNorm: return "bn"
        case .maxPool2d: return "maxpool"
        case .avgPool2d: return "avgpool"
        case .adaptiveAvgPool2d: return "gap"
        case .softmaxCrossEntropy: return "loss"
        case .maxPool2dWithIndices: return "maxpool"
        case .nativeBatchNorm: return "bn"
        case .nativeDropout: return "dropout"
        case .relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .add, .mul, .flatten, .linear, .dropout,
            .scale, .div, .channelNorm, .matmul, .reshape, .conv2dGradInput, .conv2dGradWeight, .biasGrad,
            .batchNormGrad, .activationGrad, .maxPool2dGrad, .avgPool2dGrad, .adaptiveAvgPool2dGrad,
            .linearGradInput, .linearGradWeight, .dropoutGrad, .softmaxCrossEntropyGrad, .sumTo, .sgdUpdate,
            .momentumUpdate, .adamUpdate, .adamDirection, .applyUpdate, .svdProjector, .activationMask, .reluMaskGrad,
            .batchNormFrozenGrad, .concat, .slice:
            return node.op.name
        }
    }

    /// `/2` style suffixes, empty for the default of 1; `/1x2` when the two sides differ.
    static func pair(_ p: Pair, prefix: String) -> String {
        if p.h == 1 && p.w == 1 { return "" }
        return prefix + (p.h == p.w ? "\(p.h)" : "\(p.h)x\(p.w)")
    }

    /// A type as an edge or node shows it: `1x64x56x56` for f32, `i64 32` otherwise.
    static func typeText(_ type: TensorType) -> String {
        type.dtype == .f32 ? Shape.compact(type.shape) : "\(type.dtype.rawValue) \(Shape.compact(type.shape))"
    }

    /// `params 73,728`, with the trainable part when not all of it is.
    static func paramText(total: Int, trainable: Int) -> String? {
        guard total > 0 else { return nil }
        if trainable == total { return "params \(NumberFormat.grouped(total))" }
        if trainable == 0 { return "params \(NumberFormat.grouped(total)) frozen" }
        return "params \(NumberFormat.grouped(total)) (\(NumberFormat.grouped(trainable)) trainable)"
    }

    /// Text for inside an HTML-like label.
    /// Control characters are written `\u{1b}` (XML allows none of them in an SVG, escaped or not).
    static func html(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case _ where c.isControlCharacter: out += c.controlEscape
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A double-quoted DOT string.
    /// A line feed is DOT's `\n`; other control characters are written `\u{1b}` (as text: the SVG
    /// Graphviz makes of a raw one is not valid XML).
    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where c.isControlCharacter: out += "\\" + c.controlEscape
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }
}
