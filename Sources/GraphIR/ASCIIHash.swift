/// A fast hash of ASCII names for the open-addressing table that checks node names for repeats in
/// large graphs (the verifier). Non-ASCII names return nil: Swift compares `String`s by canonical
/// equivalence, so those fall back to `Set<String>`.
public enum ASCIIHash {
    /// FNV-1a of `bytes`, with the high bits mixed down (tables index by the low ones); nil when a byte
    /// is not ASCII.
    public static func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var any: UInt8 = 0
        for b in bytes {
            any |= b
            h = (h ^ UInt64(b)) &* 0x100_0000_01b3
        }
        guard any < 0x80 else { return nil }
        return h ^ (h >> 29)
    }
}
