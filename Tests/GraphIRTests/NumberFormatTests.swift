// NumberFormat, the one number formatter: `fixed` against C's printf (through Foundation's
// String(format:), which calls it) on many values, and each other form on its documented cases.
import Foundation
import GraphIR
import Testing

@Suite struct NumberFormatTests {
    /// SplitMix64, seeded, so a failure reproduces.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Halves and other ties in decimal (exact in binary or not), large, small, subnormal, negative, zeros.
    static let chosen: [Double] = {
        var xs: [Double] = [
            0, -0.0, 0.125, 0.375, 2.5, 3.5, 0.05, 0.15, 0.25, 0.35, 0.45, 1.005, 2.675, 1.115,
            0.0005, 0.0015, 0.9995, 9.995, 99.995, 999.5, 0.5, 1.5, 1e-7, .leastNonzeroMagnitude, .leastNormalMagnitude,
            1e15, 123_456_789.125, 9_007_199_254_740_992, 9_007_199_254_740_994, 1.8e19,
            0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 66.2, 3.6, 95.5, 0.17, 6.68,
        ]
        for k in 0...400 { xs.append(Double(k) / 8); xs.append(Double(k) / 20); xs.append(Double(k) / 200) }
        for k in 0...200 { xs.append(Double(k) + 0.5); xs.append(Double(k) / 2000 + 0.0005) }
        return xs + xs.map { -$0 }
    }()

    static let random: [Double] = {
        var rng = Generator(state: 0x6772_6170_6863)
        var xs: [Double] = []
        for _ in 0..<3000 { xs.append(Double.random(in: -1000...1000, using: &rng)) }
        for _ in 0..<3000 {  // spread over magnitudes from 1e-9 to 1e18
            let e = Double.random(in: -9...18, using: &rng)
            xs.append((Bool.random(using: &rng) ? -1 : 1) * Foundation.pow(10, e))
        }
        for _ in 0..<1000 { xs.append(Double(bitPattern: rng.next() & 0x43EF_FFFF_FFFF_FFFF)) }  // any below 2^63
        return xs
    }()

    @Test(arguments: 0...3)
    func fixedIsPrintf(decimals: Int) {
        var mismatches: [String] = []
        for x in Self.chosen + Self.random {
            let expected = String(format: "%.\(decimals)f", x), actual = NumberFormat.fixed(x, decimals: decimals)
            if actual != expected { mismatches.append("\(x): \(actual) vs printf \(expected)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(5))")
    }

    @Test(arguments: 4...6)
    func fixedIsPrintfWithMoreDecimals(decimals: Int) {
        for x in Self.chosen + Self.random.prefix(2000) {
            #expect(NumberFormat.fixed(x, decimals: decimals) == String(format: "%.\(decimals)f", x), "\(x)")
        }
    }

    @Test func fixedNonFinite() {
        #expect(NumberFormat.fixed(.infinity, decimals: 2) == "inf")
        #expect(NumberFormat.fixed(-.infinity, decimals: 0) == "-inf")
        #expect(NumberFormat.fixed(.nan, decimals: 1) == "nan")
    }

    @Test(arguments: [
        (0, "0"), (7, "7"), (999, "999"), (1000, "1,000"), (1234567, "1,234,567"), (-12345, "-12,345"),
        (-999, "-999"), (Int.max, "9,223,372,036,854,775,807"), (Int.min, "-9,223,372,036,854,775,808"),
    ])
    func grouped(n: Int, text: String) {
        #expect(NumberFormat.grouped(n) == text)
    }

    @Test(arguments: [
        (0.2, "0.2"), (0.125, "0.125"), (1.0, "1"), (0.5004, "0.5"), (0.05, "0.05"), (2.25, "2.25"),
        (-0.25, "-0.25"), (-3.0, "-3"), (0.0004, "0"), (1e-5, "0"), (12.3456, "12.346"),
    ])
    func trimmed(x: Double, text: String) {
        #expect(NumberFormat.trimmed(x) == text)
    }

    @Test(arguments: [(8.0, "8"), (16.0, "16"), (0.5, "0.5"), (1e-5, "1e-05"), (2.25, "2.25"), (-4.0, "-4")])
    func shortest(x: Double, text: String) {
        #expect(NumberFormat.shortest(x) == text)
    }

    @Test(arguments: [
        (0, "0 B"), (512, "512 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
        (38_400, "37.5 KiB"), (47_907_584, "45.7 MiB"), (80_020_332, "76.3 MiB"),
        (3 * 1_073_741_824 / 2, "1.5 GiB"), (-5, "-5 B"),
    ])
    func bytes(n: Int, text: String) {
        #expect(NumberFormat.bytes(n) == text)
    }

    @Test(arguments: [
        (512, "512 B"), (1024, "1 KiB"), (65_536, "64 KiB"), (1536, "1.5 KiB"),
        (201_113_395, "191.8 MiB"), (1_073_741_824, "1 GiB"), (-2048, "-2 KiB"),
    ])
    func compactBytes(n: Int, text: String) {
        #expect(NumberFormat.compactBytes(n) == text)
    }

    @Test(arguments: [
        (0, "0"), (999, "999"), (1000, "1.00 k"), (11_180_000, "11.18 M"), (7_827_282_688, "7.83 G"),
        (10_812_345_678_901, "10.81 T"), (-2_500, "-2.50 k"),
    ])
    func short(n: Int, text: String) {
        #expect(NumberFormat.short(n) == text)
    }

    @Test(arguments: [
        (12.0, "12"), (0.5, "0.5"), (1000.0, "1 k"), (292_500.0, "292.5 k"), (1_810_000_000.0, "1.81 G"),
        (11_689_512.0, "11.69 M"), (-4_000_000.0, "-4 M"),
    ])
    func compactCount(n: Double, text: String) {
        #expect(NumberFormat.compactCount(n) == text)
    }

    @Test(arguments: [
        (-66.2, 1, "−66.2%"), (3.6, 1, "+3.6%"), (0.0, 1, "±0.0%"), (-0.04, 1, "−0.0%"),
        (27.555, 2, "+27.55%"), (-95.5, 0, "−96%"), (100.0, 1, "+100.0%"),
    ])
    func signedPercent(p: Double, decimals: Int, text: String) {
        #expect(NumberFormat.signedPercent(p, decimals: decimals) == text)
    }

    @Test func change() {
        #expect(NumberFormat.change(150, from: 100) == 50)
        #expect(NumberFormat.change(25, from: 100) == -75)
        #expect(NumberFormat.change(100, from: 100) == 0)
        #expect(NumberFormat.change(7, from: 0) == 0)
    }
}
