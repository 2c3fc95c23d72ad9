// The data pipeline's random numbers: SplitMix64 (Steele, Lea and Flood 2014), so that a seed gives the
// same shuffles and noise on every machine and can be reproduced in a few lines of Python:
//
//     state = (state + 0x9E3779B97F4A7C15) mod 2^64
//     z = state; z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB
//     return z ^ z >> 31
//
// Fisher–Yates (`DataRandom.shuffle`): for i = n-1 down to 1, j = next() mod (i+1), swap a[i], a[j].
import Glibc

/// SplitMix64: 64 bits of state, one multiply-xorshift output per step.
public struct DataRandom: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one stream of `seed` (an epoch, a sample): the seed mixed with the stream number.
    public init(seed: UInt64, stream: UInt64) {
        var g = DataRandom(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        state = g.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1): the top 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A standard normal sample (Box–Muller, one of the pair).
    public mutating func gaussian() -> Double {
        let u1 = 1 - unit()  // (0, 1]
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Fisher–Yates as documented above.
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }
}
