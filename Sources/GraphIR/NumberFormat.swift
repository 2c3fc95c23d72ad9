// The one number formatter: counts, bytes, percentages and short decimals, for tables, charts, DOT labels
// and error messages alike. Locale-independent and without Foundation; where a form has a fixed number
// of decimals it rounds the binary value exactly as C's `printf("%.Nf")` does (half to even on the exact
// value), so text is the same on every machine.

/// Number formatting shared by every output of graphc.
public enum NumberFormat {
    /// `1234567` as `1,234,567`.
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        out.reserveCapacity(digits.count + digits.count / 3 + 1)
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// At most three decimals, trailing zeros dropped: `0.2`, `0.125`, `1`.
    public static func trimmed(_ x: Double) -> String {
        let thousandths = Int((x * 1000).rounded())
        let whole = thousandths / 1000, frac = abs(thousandths % 1000)
        guard frac != 0 else { return "\(whole)" }
        var digits = String(frac)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return (thousandths < 0 && whole == 0 ? "-" : "") + "\(whole).\(digits)"
    }

    /// `8` for whole numbers, else the shortest form that reads back as `x`: `0.5`, `1e-05` (alphas, scales).
    public static func shortest(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }

    /// `x` with exactly `decimals` decimals, as `printf("%.*f", decimals, x)` prints it: the exact binary
    /// value rounded half to even, a `-` for every negative value (also `-0.00`), `nan` / `inf` / `-inf`.
    /// For `|x| < 2^64` and `decimals` from 0 to 6.
    public static func fixed(_ x: Double, decimals: Int) -> String {
        precondition((0...6).contains(decimals), "NumberFormat.fixed: 0 to 6 decimals")
        guard x.isFinite else { return x.isNaN ? (x.sign == .minus ? "-nan" : "nan") : (x < 0 ? "-inf" : "inf") }
        precondition(x.magnitude < 0x1p64, "NumberFormat.fixed: |x| below 2^64")
        var scale: UInt128 = 1
        for _ in 0..<decimals { scale *= 10 }
        // |x| = significand · 2^exponent exactly; scaled = |x| · 10^decimals, rounded half to even.
        let magnitude = x.magnitude
        let significand = UInt128(magnitude.significandBitPattern | (magnitude.isNormal ? 1 << 52 : 0))
        let exponent = Int(magnitude.exponentBitPattern) - 1075 + (magnitude.isNormal ? 0 : 1)
        var scaled: UInt128
        if exponent >= 0 {
            scaled = (significand << exponent) * scale
        } else if -exponent >= 128 {
            scaled = 0  // below 2^-74 even after scaling: far under half a unit
        } else {
            let shift = -exponent, wide = significand * scale
            scaled = wide >> shift
            let remainder = wide - (scaled << shift), half = UInt128(1) << (shift - 1)
            if remainder > half || (remainder == half && scaled & 1 == 1) { scaled += 1 }
        }
        let whole = scaled / scale, fraction = scaled % scale
        var text = (x.sign == .minus ? "-" : "") + String(whole)
        if decimals > 0 {
            let digits = String(fraction)
            text += "." + String(repeating: "0", count: decimals - digits.count) + digits
        }
        return text
    }

    /// `44.6 MiB`, `512 B`: one decimal in the largest binary unit it reaches (table style).
    public static func bytes(_ n: Int) -> String {
        let x = Double(n)
        for (limit, suffix) in binaryUnits where x >= limit { return fixed(x / limit, decimals: 1) + " " + suffix }
        return "\(n) B"
    }

    /// `191.8 MiB`, `64 KiB`, `512 B`: one decimal, a trailing `.0` dropped (chart style).
    public static func compactBytes(_ n: Int) -> String {
        let x = Double(n)
        for (limit, unit) in binaryUnits where x.magnitude >= limit {
            return trimmed((x / limit * 10).rounded() / 10) + " " + unit
        }
        return "\(n) B"
    }

    /// `11.18 M`, `1.81 G`: two decimals in the largest decimal unit reached, beside exact counts.
    public static func short(_ n: Int) -> String {
        let x = Double(n)
        for (limit, suffix) in decimalUnits where x.magnitude >= limit {
            return fixed(x / limit, decimals: 2) + " " + suffix
        }
        return String(n)
    }

    /// `1.81 G`, `292.5 k`, `12`: at most two decimals, trailing zeros dropped (chart style).
    public static func compactCount(_ n: Double) -> String {
        for (limit, unit) in decimalUnits where n.magnitude >= limit {
            return trimmed((n / limit * 100).rounded() / 100) + " " + unit
        }
        return trimmed(n)
    }

    /// A percentage with its sign and `decimals` decimals: `−66.2%`, `+3.6%`, `±0.0%` (± for zero only).
    public static func signedPercent(_ p: Double, decimals: Int = 1) -> String {
        (p > 0 ? "+" : p < 0 ? "−" : "±") + fixed(p.magnitude, decimals: decimals) + "%"
    }

    /// `x` against `base` in percent (`(x − base) / base · 100`); 0 when `base` is 0.
    public static func change(_ x: Int, from base: Int) -> Double {
        base == 0 ? 0 : (Double(x) - Double(base)) / Double(base) * 100
    }

    private static let binaryUnits: [(Double, String)] = [(1_073_741_824, "GiB"), (1_048_576, "MiB"), (1024, "KiB")]
    private static let decimalUnits: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
}
