// Reading dataset files: whole files through Glibc, gzip through system zlib (CZlib), and the one error
// type of the data readers. Every message names the file it is about.
import CZlib
import Glibc

/// Why a dataset cannot be read: a missing, unreadable, truncated or corrupt file. One line, naming the file.
public struct DataError: Error, Sendable, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum DataFiles {
    /// Whether `path` names an existing file or directory.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Whether `path` is a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & 0o170000 == 0o040000
    }

    /// The whole file.
    public static func read(_ path: String) throws(DataError) -> [UInt8] {
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        if fd < 0 { throw DataError("cannot read '\(path)': \(reason(errno))") }
        defer { _ = close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw DataError("cannot read '\(path)': \(reason(errno))") }
        if st.st_mode & 0o170000 == 0o040000 { throw DataError("cannot read '\(path)': it is a directory") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(Int(st.st_size), 0))
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw DataError("cannot read '\(path)': \(reason(errno))")
            }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// The file, gunzipped when it starts with the gzip magic (1f 8b), whatever its name.
    public static func readMaybeGzipped(_ path: String) throws(DataError) -> [UInt8] {
        let bytes = try read(path)
        return isGzip(bytes) ? try gunzip(bytes, file: path) : bytes
    }

    public static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B }

    /// Decompresses gzip data (one or more concatenated members). The trailer's size (mod 2^32) sizes
    /// the output; a truncated stream, a bad CRC or anything that is not deflate data is an error
    /// naming `file`.
    public static func gunzip(_ input: [UInt8], file: String) throws(DataError) -> [UInt8] {
        func fail(_ why: String) -> DataError { DataError("'\(file)' is not a valid gzip file: \(why)") }
        guard isGzip(input) else { throw fail("no gzip header") }
        var hint = 1 << 16
        if input.count >= 18 {
            let t = input.count - 4
            let size = Int(input[t]) | Int(input[t + 1]) << 8 | Int(input[t + 2]) << 16 | Int(input[t + 3]) << 24
            hint = max(hint, size)
        }
        var output = [UInt8](repeating: 0, count: hint)
        var produced = 0
        var stream = z_stream()
        // 15 + 16: a gzip wrapper (not zlib or raw deflate), checked CRC and size.
        guard graphc_inflateInit2(&stream, 15 + 16) == Z_OK else { throw fail("zlib could not start") }
        defer { inflateEnd(&stream) }
        var status: Int32 = Z_OK
        var consumed = 0
        try input.withUnsafeBufferPointer { (inp: UnsafeBufferPointer<UInt8>) throws(DataError) in
            stream.next_in = UnsafeMutablePointer(mutating: inp.baseAddress!)
            stream.avail_in = UInt32(inp.count)
            while true {
                if produced == output.count { output.append(contentsOf: repeatElement(0, count: output.count)) }
                let room = output.count - produced
                status = output.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress! + produced
                    stream.avail_out = UInt32(min(room, Int(UInt32.max)))
                    let before = Int(stream.avail_out)
                    let s = inflate(&stream, Z_NO_FLUSH)
                    produced += before - Int(stream.avail_out)
                    return s
                }
                consumed = inp.count - Int(stream.avail_in)
                if status == Z_STREAM_END {
                    // Another member may follow (gzip allows concatenation); trailing zeros are padding.
                    let rest = inp[consumed...]
                    if rest.isEmpty || rest.allSatisfy({ $0 == 0 }) { return }
                    guard rest.count >= 2, rest.first == 0x1F, rest.dropFirst().first == 0x8B else {
                        throw fail("\(rest.count) bytes of garbage after the compressed data")
                    }
                    guard inflateReset(&stream) == Z_OK else { throw fail("zlib could not restart") }
                    continue
                }
                if status == Z_OK { continue }
                // The output always has room here, so no progress means the input ran out.
                if status == Z_BUF_ERROR { throw fail("the compressed data ends early (truncated file?)") }
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw fail(message)
            }
        }
        output.removeSubrange(produced...)
        return output
    }

    /// Compresses `bytes` as one gzip member (for tests and fixtures; level 6).
    public static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        precondition(graphc_deflateInit2(&stream, 6, 15 + 16) == Z_OK, "zlib: deflateInit2 failed")
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(bytes.count))) + 32
        var output = [UInt8](repeating: 0, count: bound)
        var input = bytes
        let written = input.withUnsafeMutableBufferPointer { inp in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = inp.baseAddress
                stream.avail_in = UInt32(inp.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                let s = deflate(&stream, Z_FINISH)
                precondition(s == Z_STREAM_END, "zlib: deflate returned \(s)")
                return out.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<written])
    }

    static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such file or directory"
        case EACCES, EPERM: "permission denied"
        case EISDIR: "it is a directory"
        case ENOTDIR: "a component of the path is not a directory"
        default: String(cString: strerror(code))
        }
    }
}
