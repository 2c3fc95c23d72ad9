// Memory as the OS sees it: an anonymous mapping whose resident pages can be counted, and the process's
// resident set from /proc/self/status.
//
// `MappedRegion` is `mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)`: no swap is reserved and a page
// costs nothing until it is first written. Transparent huge pages are declined (`MADV_NOHUGEPAGE`) so
// that a touch makes one 4 KiB page resident, not 2 MiB, and `mincore` counts what was touched at page
// granularity. Nothing releases pages while the region lives, so the resident count only grows: read
// after a run, it is the run's high-water.
//
// `ProcessMemory` reads VmRSS (current) and VmHWM (peak) from /proc/self/status and resets the peak by
// writing `5` to /proc/self/clear_refs (PLATFORM.md), which some sandboxes forbid: `resetPeak` says
// whether it worked.
#if canImport(Glibc)
    import Glibc
#endif

/// An anonymous private mapping of at least `byteCount` bytes (page-rounded), unmapped on deinit.
final class MappedRegion: @unchecked Sendable {
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    let base: UnsafeMutableRawPointer
    /// The bytes asked for.
    let byteCount: Int
    /// The bytes mapped: `byteCount` rounded up to pages (0 when `byteCount` is 0: then `base` is a small
    /// heap block, so views of zero-byte tensors still have an address).
    let mappedBytes: Int

    struct MapError: Error, CustomStringConvertible {
        var description: String
    }

    init(byteCount: Int) throws(MapError) {
        self.byteCount = byteCount
        let page = Self.pageSize
        mappedBytes = (byteCount + page - 1) / page * page
        guard mappedBytes > 0 else {
            base = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
            return
        }
        let p = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw MapError(description: "mmap of \(mappedBytes) bytes failed (errno \(errno))")
        }
        _ = madvise(p, mappedBytes, 15)  // MADV_NOHUGEPAGE: count 4 KiB pages (Linux's value)
        base = p
    }

    deinit {
        if mappedBytes > 0 { munmap(base, mappedBytes) } else { base.deallocate() }
    }

    /// Which pages are resident, one flag per page, by `mincore`.
    func residency() -> [Bool] {
        let pages = mappedBytes / Self.pageSize
        guard pages > 0 else { return [] }
        var flags = [UInt8](repeating: 0, count: pages)
        let rc = flags.withUnsafeMutableBufferPointer { mincore(base, mappedBytes, $0.baseAddress) }
        precondition(rc == 0, "mincore failed (errno \(errno))")
        return flags.map { $0 & 1 != 0 }
    }

    /// Resident pages, and the end (in bytes from `base`) of the highest resident one.
    func touched() -> (pages: Int, highWater: Int) {
        let flags = residency()
        let highest = flags.lastIndex(of: true).map { ($0 + 1) * Self.pageSize } ?? 0
        return (flags.count { $0 }, highest)
    }

    /// Fills `count` bytes at `offset` with the f32 quiet NaN 0x7FC00000 (little-endian), any tail
    /// bytes with its last byte.
    func poison(offset: Int, count: Int) {
        Self.poison(base + offset, count: count)
    }

    static func poison(_ p: UnsafeMutableRawPointer, count: Int) {
        let nan: UInt32 = 0x7FC0_0000
        let words = count / 4
        if Int(bitPattern: p) % 4 == 0 {
            p.bindMemory(to: UInt32.self, capacity: words).update(repeating: nan, count: words)
        } else {
            for i in 0..<words { p.storeBytes(of: nan, toByteOffset: 4 * i, as: UInt32.self) }
        }
        for i in 4 * words..<count { p.storeBytes(of: 0x7F, toByteOffset: i, as: UInt8.self) }
    }
}

/// The process's resident memory, from /proc/self/status.
public enum ProcessMemory {
    /// VmRSS (current resident bytes) and VmHWM (peak resident bytes), or nil if unreadable.
    public static func status() -> (rss: Int, peak: Int)? {
        guard let text = read("/proc/self/status") else { return nil }
        var rss: Int?, peak: Int?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("VmRSS:") { rss = kibibytes(line) }
            if line.hasPrefix("VmHWM:") { peak = kibibytes(line) }
        }
        guard let rss, let peak else { return nil }
        return (rss * 1024, peak * 1024)
    }

    /// Resets the peak (VmHWM) to the current resident set: `5` to /proc/self/clear_refs. False where
    /// that is not allowed.
    public static func resetPeak() -> Bool {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var five = UInt8(ascii: "5")
        return write(fd, &five, 1) == 1
    }

    private static func kibibytes(_ line: Substring) -> Int? {
        Int(line.split { $0 == " " || $0 == "\t" }.dropFirst().first ?? "")
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
