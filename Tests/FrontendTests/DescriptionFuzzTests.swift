import Foundation
// Seeded mutation fuzzing of the zoo's description files. Each case mutates a real file (bytes,
// tokens, digits, truncation, invalid UTF-8) and compiles it: the compiler must either produce a
// graph the verifier accepts or throw diagnostics of which at least one error is located. A crash
// or trap fails the whole run, which is the point. The PRNG is seeded, so failures reproduce.
import Frontend
import GraphIR
import GraphTestSupport
import Testing

/// SplitMix64: tiny, fast, and deterministic across platforms.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Mutator {
    /// Bytes worth inserting: the language's punctuation, digits, keywords' letters, newlines.
    static let interesting = Array("(){}[]<-=,.;:?!x0123456789 \n#\"abcdefghijklmnopqrstuvwxyz_+*/%&|".utf8)
    static let snippets: [[UInt8]] = [
        "0", "-1", "99999999999999999999", "1e308", "x", "<- input", "<- a, b", "{i}", "if true {", "}",
        "for i in 0..<",
        "let ", "model ", "block ", "\"", "conv2d(", "add", "9223372036854775807", "0x0", ", stride = 0", "[",
        "channels(input)", "/ 0", "% 0", "1000000x1000000", "relu = relu\n", "stage(\"basic\", 1, blocks = 100000)",
    ].map { Array($0.utf8) }
    static let invalidUTF8: [[UInt8]] = [
        [0xFF], [0xC3], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80],
    ]

    /// Token boundaries, roughly: runs of identifier characters, or single other bytes.
    static func tokens(_ b: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        func word(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7A) || c == 0x5F
        }
        while i < b.count {
            var j = i + 1
            if word(b[i]) { while j < b.count && word(b[j]) { j += 1 } }
            if b[i] != 0x20 && b[i] != 0x0A { out.append(i..<j) }
            i = j
        }
        return out
    }

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = input
        guard !b.isEmpty else { return snippets.randomElement(using: &rng)! }
        func pos(_ extra: Int = 0) -> Int { Int.random(in: 0..<(b.count + extra), using: &rng) }
        switch Int.random(in: 0..<11, using: &rng) {
        case 0:  // delete a byte range
            let s = pos(), n = Int.random(in: 1...8, using: &rng)
            b.removeSubrange(s..<min(b.count, s + n))
        case 1:  // duplicate a byte range
            let s = pos(), n = Int.random(in: 1...40, using: &rng)
            b.insert(contentsOf: b[s..<min(b.count, s + n)], at: pos())
        case 2:  // swap two bytes
            b.swapAt(pos(), pos())
        case 3:  // insert random interesting bytes
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                b.insert(interesting.randomElement(using: &rng)!, at: pos(1))
            }
        case 4:  // insert a snippet
            b.insert(contentsOf: snippets.randomElement(using: &rng)!, at: pos(1))
        case 5:  // truncate
            b.removeSubrange(pos()...)
        case 6:  // flip a digit
            let digits = b.indices.filter { b[$0] >= 0x30 && b[$0] <= 0x39 }
            if let d = digits.randomElement(using: &rng) { b[d] = UInt8.random(in: 0x30...0x39, using: &rng) }
        case 7:  // insert invalid UTF-8
            b.insert(contentsOf: invalidUTF8.randomElement(using: &rng)!, at: pos(1))
        case 8:  // delete a token
            let t = tokens(b)
            if let r = t.randomElement(using: &rng) { b.removeSubrange(r) }
        case 9:  // duplicate a token somewhere else
            let t = tokens(b)
            if let r = t.randomElement(using: &rng), let at = t.randomElement(using: &rng) {
                b.insert(contentsOf: b[r], at: at.lowerBound)
            }
        default:  // swap two tokens
            let t = tokens(b)
            if var r1 = t.randomElement(using: &rng), var r2 = t.randomElement(using: &rng), r1 != r2 {
                if r1.lowerBound > r2.lowerBound { swap(&r1, &r2) }
                if r1.upperBound <= r2.lowerBound {
                    let a = Array(b[r1]), c = Array(b[r2])
                    b.replaceSubrange(r2, with: a)
                    b.replaceSubrange(r1, with: c)
                }
            }
        }
        return b
    }
}

@Suite struct DescriptionFuzzTests {
    /// `GRAPHC_FUZZ_MUTATIONS` and `GRAPHC_FUZZ_SEED` run a longer or different campaign locally.
    static let totalMutations =
        ProcessInfo.processInfo.environment["GRAPHC_FUZZ_MUTATIONS"].flatMap { Int($0) } ?? 1_200
    static let seed = ProcessInfo.processInfo.environment["GRAPHC_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x6772_6170_6863

    @Test func mutatedZooFilesNeverCrash() throws {
        let files = try Models.files()
        #expect(!files.isEmpty)
        var rng = SplitMix64(seed: Self.seed)
        var compiled = 0, rejected = 0
        var ids: [String: Int] = [:]
        let perFile = (Self.totalMutations + files.count - 1) / files.count
        for file in files {
            let original = try Models.source(file)
            for iteration in 0..<perFile {
                var bytes = original
                for _ in 0..<Int.random(in: 1...3, using: &rng) { bytes = Mutator.mutate(bytes, &rng) }
                do {
                    let model = try ModelDescription.compile(source: bytes, file: file)
                    let errors = Verifier.verify(model.graph).filter { $0.severity == .error }
                    #expect(errors.isEmpty, "\(file) mutation \(iteration): verifier errors \(errors)")
                    compiled += 1
                } catch {
                    let located = error.diagnostics.filter { $0.severity == .error && $0.location != nil }
                    #expect(!located.isEmpty, "\(file) mutation \(iteration): unlocated \(error)")
                    #expect(located.allSatisfy { $0.sourceLine != nil }, "\(file) mutation \(iteration): \(error)")
                    rejected += 1
                    ids[error.diagnostics.first?.id ?? "none", default: 0] += 1
                }
            }
        }
        if ProcessInfo.processInfo.environment["GRAPHC_FUZZ_VERBOSE"] != nil {
            print("fuzz: compiled \(compiled), rejected \(rejected): \(ids.sorted { $0.key < $1.key })")
        }
        #expect(compiled + rejected >= 1_000)
        // Both outcomes must actually be exercised, or the mutations are too weak or too strong.
        #expect(compiled > 0 && rejected > 0, "compiled \(compiled), rejected \(rejected)")
    }
}
