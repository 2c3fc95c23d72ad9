// Reduced-precision dtypes in the IR: every dtype prints and parses back, ops compute in f32 whatever
// their operands' storage, and reduced precision where the model says it has no place is an error.
import GraphIR
import Testing

@Suite struct IRPrecisionTests {
    static let text = """
        graph "mixed" {
          input %0 "x" : f16[2, 3, 4, 4]
          input %1 "labels" : i64[2]
          param %2 "conv.weight" : qi8[4, 3, 3, 3] weight frozen
          param %3 "conv.bias" : bf16[4] bias frozen
          param %4 "fc.weight" : f32[5, 4] weight
          param %5 "fc.bias" : f16[5] bias frozen
          %6 = conv2d(%0, %2, %3) {dilation = [1, 1], groups = 1, padding = [1, 1], stride = [1, 1]} : bf16[2, 4, 4, 4] "conv"
          %7, %8 = native_dropout(%6) {p = 0.5} : f16[2, 4, 4, 4], bool[2, 4, 4, 4] "drop"
          %9 = adaptive_avg_pool2d(%7) {output = [1, 1]} : f32[2, 4, 1, 1] "pool"
          %10 = flatten(%9) {start_dim = 1} : f16[2, 4] "flat"
          %11 = linear(%10, %4, %5) : f32[2, 5] "fc"
          %12 = softmax_cross_entropy(%11, %1) : f32[] "loss"
          %13 = relu_mask(%6) : mask[2, 4, 4, 4] "mask"
          output %12
        }

        """

    @Test func everyDTypeRoundTrips() throws {
        let g = try IRParser.parse(Self.text, file: "mixed.gir")
        #expect(IRPrinter.print(g) == Self.text)
        #expect(Set(g.values.map(\.type.dtype)) == Set(DType.allCases))
        #expect(try IRParser.parse(IRPrinter.print(g), file: "again.gir") == g)
        // Bytes: the quantized weight carries its 4 scales.
        #expect(g[ValueID(2)].type.byteCount == 108 + 16)
        #expect(g[ValueID(0)].type.byteCount == 2 * 96)
        #expect(g[ValueID(13)].type.byteCount == 128 / 8)
    }

    @Test func opsComputeInF32() throws {
        let conv = Op.conv2d(Conv2dAttrs(padding: Pair(1)))
        let types = try conv.inferTypes([TensorType(.f16, [1, 3, 4, 4]), TensorType(.qi8, [4, 3, 3, 3])])
        #expect(types == [.f32([1, 4, 4, 4])])
        #expect(try Op.relu.inferTypes([TensorType(.bf16, [2, 2])]) == [.f32([2, 2])])
        #expect(TensorType(.f16, [2]).stores(.f32([2])))
        #expect(!TensorType(.qi8, [2]).stores(.f32([2])))
        #expect(!TensorType(.f16, [2]).stores(.i64([2])))
    }

    static func errors(_ text: String) -> [String] {
        do {
            _ = try IRParser.parse(text, file: "bad.gir")
            return []
        } catch {
            return error.diagnostics.map { "\($0.id): \($0.message)" }
        }
    }

    @Test func reducedPrecisionOnlyWhereItBelongs() {
        let trainable = Self.text.replacingOccurrences(
            of: "qi8[4, 3, 3, 3] weight frozen", with: "qi8[4, 3, 3, 3] weight")
        #expect(
            Self.errors(trainable).contains {
                $0.hasPrefix("bad-precision:") && $0.contains("'conv.weight'") && $0.contains("only frozen weights")
            }, "\(Self.errors(trainable))")
        // A node never produces qi8 (quantizing is not an op), nor a float as i64.
        let quantizedResult = Self.text.replacingOccurrences(of: ": f32[2, 5] \"fc\"", with: ": qi8[2, 5] \"fc\"")
        #expect(Self.errors(quantizedResult).contains { $0.hasPrefix("type-mismatch:") && $0.contains("'fc'") })
        let labels = Self.text.replacingOccurrences(of: "i64[2]", with: "f16[2]")
        #expect(Self.errors(labels).contains { $0.hasPrefix("shape-mismatch:") || $0.hasPrefix("dtype:") })
        let unknown = Self.text.replacingOccurrences(of: "bf16[4] bias", with: "f8[4] bias")
        #expect(Self.errors(unknown).contains { $0.hasPrefix("unknown-dtype:") && $0.contains("qi8") })
    }
}
