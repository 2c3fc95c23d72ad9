/// A fast hash of ASCII names for the open-addressing tables that check and look up node names in
/// large graphs (the verifier, autodiff's gradient map). Non-ASCII names return nil: Swift compares
/// `String`s by canonical equivalence, so those fall back to `Set<String>` / `[String: _]`.
public enum ASCIIHash {
    /// FNV-1a of `bytes`, with the high bits mixed down (tables index by the low ones); nil when a byte
    /// is not ASCII.
    public static func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
        fnv1a(bytes, UnsafeBufferPointer(start: nil, count: 0))
    }

    /// The hash of `prefix` followed by `suffix`, equal to `fnv1a` of the two concatenated, without
    /// building the concatenation.
    public static func fnv1a(_ prefix: UnsafeBufferPointer<UInt8>, _ suffix: UnsafeBufferPointer<UInt8>) -> UInt64? {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var any: UInt8 = 0
        for b in prefix {
            any |= b
            h = (h ^ UInt64(b)) &* 0x100_0000_01b3
        }
        for b in suffix {
            any |= b
            h = (h ^ UInt64(b)) &* 0x100_0000_01b3
        }
        guard any < 0x80 else { return nil }
        return h ^ (h >> 29)
    }
}
