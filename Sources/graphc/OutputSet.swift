import Foundation
import Frontend

/// Every file one command writes, written all or nothing.
///
///     let outputs = OutputSet(inputs: model.inputFiles)
///     try outputs.stage(path, bytes)       // checks the target, writes a temporary beside it
///     try outputs.stage(csvPath, csvBytes)
///     try outputs.commit()                 // only now does any existing file change
///
/// `stage` refuses a target that is an input of the command, that another output of the command already
/// names, a directory, a file the user could not write (as root too: a file without any write bit), a file
/// with more than one hard link, or a dangling symbolic link. A regular file (or a new one) is written to a
/// temporary in its directory (O_EXCL, a unique hidden name, the existing file's mode and owner) and
/// renamed over the target by `commit`, after every output has been written. A symbolic link is written
/// through: its resolved target is replaced and the link stays. A device, FIFO or socket, `/dev/stdout`,
/// anything under /dev or /proc, and `-` or nil (stdout) are written in place by `commit` (opened O_WRONLY,
/// never truncated, never replaced), before the renames. A failure, a discarded set (or one dropped
/// uncommitted) and SIGINT/SIGTERM/SIGHUP remove the temporaries.
final class OutputSet {
    private enum Target {
        /// Rename the temporary over `final`.
        case replace(final: String, temporary: String)
        /// Open `path` and write in place at commit.
        case inPlace(path: String, bytes: [UInt8])
        case stdout(bytes: [UInt8])
        case stderr(bytes: [UInt8])
    }

    private struct Identity: Equatable {
        var device: UInt64?, inode: UInt64?
        var path: String
        static func == (a: Identity, b: Identity) -> Bool {
            (a.device != nil && a.device == b.device && a.inode == b.inode) || a.path == b.path
        }
    }

    private let inputs: [(name: String, identity: Identity)]
    private var staged: [(name: String, identity: Identity, target: Target)] = []
    private var finished = false

    /// `inputs`: the files the command reads; none of them may be an output. Names that are no file are ignored.
    init(inputs: [String] = []) {
        self.inputs = inputs.compactMap { name in Self.identity(ofExisting: name).map { (name, $0) } }
    }

    deinit { discard() }

    /// Checks `path` as a target for `bytes` and, for a file to replace, writes the temporary; nil or `-` is stdout.
    func stage(_ path: String?, _ bytes: [UInt8]) throws {
        precondition(!finished, "OutputSet used after commit or discard")
        do {
            try stageChecked(path, bytes)
        } catch {
            discard()
            throw error
        }
    }

    func stage(_ path: String?, _ text: String) throws { try stage(path, Array(text.utf8)) }

    /// Writes the in-place outputs, then renames every temporary over its target.
    func commit() throws {
        precondition(!finished, "OutputSet committed twice")
        defer { discard() }
        for (name, _, target) in staged {
            switch target {
            case let .inPlace(path, bytes): try writeInPlace(name, path, bytes)
            case let .stdout(bytes): StandardStream.output.write(bytes)
            case let .stderr(bytes): StandardStream.error.write(bytes)
            case .replace: break
            }
        }
        // No signal between the first rename and the last: the set lands whole or, before it, not at all.
        let mask = Temporaries.blockSignals()
        defer { Temporaries.restoreSignals(mask) }
        for (name, _, target) in staged {
            guard case let .replace(final, temporary) = target else { continue }
            if rename(temporary, final) != 0 {
                throw CLIError("cannot write '\(name)': \(Self.reason(errno))")
            }
            Temporaries.unregister(temporary)
        }
        staged.removeAll()
    }

    /// Removes the temporaries; no target changes.
    func discard() {
        for (_, _, target) in staged {
            if case let .replace(_, temporary) = target {
                _ = unlink(temporary)
                Temporaries.unregister(temporary)
            }
        }
        staged.removeAll()
        finished = true
    }

    /// Writes one output: `OutputSet(inputs:)`, `stage`, `commit`.
    static func write(_ bytes: [UInt8], to path: String?, inputs: [String] = []) throws {
        let set = OutputSet(inputs: inputs)
        try set.stage(path, bytes)
        try set.commit()
    }

    static func write(_ text: String, to path: String?, inputs: [String] = []) throws {
        try write(Array(text.utf8), to: path, inputs: inputs)
    }

    // MARK: - Staging

    private func stageChecked(_ name: String?, _ bytes: [UInt8]) throws {
        guard let name, name != "-", name != "/dev/stdout", name != "/dev/stderr" else {
            let stream = name == "/dev/stderr" ? "<stderr>" : "<stdout>"
            try add(
                name ?? "-", Identity(path: stream),
                name == "/dev/stderr" ? .stderr(bytes: bytes) : .stdout(bytes: bytes))
            return
        }
        func fail(_ reason: String) -> CLIError { CLIError("cannot write '\(name)': \(reason)") }
        if name.isEmpty { throw fail("the path is empty") }
        var st = stat()
        if lstat(name, &st) != 0 {
            guard errno == ENOENT else { throw fail(Self.reason(errno)) }
            // A new file: its directory must exist.
            let (directory, base) = Self.split(name)
            guard let resolved = Self.realPath(directory) else { throw fail(Self.reason(errno)) }
            if base.isEmpty || base == "." || base == ".." { throw fail("it is a directory") }
            let final = (resolved == "/" ? "" : resolved) + "/" + base
            try check(name, Identity(path: final))
            staged.append(
                (
                    name, Identity(path: final),
                    .replace(final: final, temporary: try temporary(name, final, like: nil, bytes))
                ))
            return
        }
        var path = name
        let special = name.hasPrefix("/dev/") || name.hasPrefix("/proc/")
        if Self.kind(st) == Self.symlink {
            // /dev/stdout, /dev/fd/3, /proc/self/fd/1: descriptors, written where they point.
            if special {
                if stat(name, &st) != 0 { throw fail(Self.reason(errno)) }
                if Self.kind(st) == Self.directory { throw fail("it is a directory") }
                try add(name, Self.identity(st, path: name), .inPlace(path: name, bytes: bytes))
                return
            }
            // Written through: the link stays, its target is replaced.
            guard let resolved = Self.realPath(name) else {
                if errno == ENOENT {
                    throw fail("it is a symbolic link to '\(Self.linkText(name))', which does not exist")
                }
                throw fail(Self.reason(errno))
            }
            path = resolved
            if stat(path, &st) != 0 { throw fail(Self.reason(errno)) }
        }
        switch Self.kind(st) {
        case Self.directory:
            throw fail("it is a directory")
        case Self.regular:
            if st.st_nlink > 1 {
                throw fail(
                    "it has \(st.st_nlink) hard links; replacing it would split them, and writing it in place "
                        + "could leave it half-written (remove the other links or write elsewhere)")
            }
            if access(path, W_OK) != 0 { throw fail(Self.reason(errno)) }
            if st.st_mode & 0o222 == 0 {
                throw fail("it is read-only (mode \(Self.octal(st.st_mode))); graphc does not replace read-only files")
            }
            let final = Self.realPath(path) ?? path
            try check(name, Self.identity(st, path: final))
            staged.append(
                (
                    name, Self.identity(st, path: final),
                    .replace(final: final, temporary: try temporary(name, final, like: st, bytes))
                ))
        default:
            // Devices, FIFOs, sockets: in place, at commit.
            if access(path, W_OK) != 0 { throw fail(Self.reason(errno)) }
            try add(name, Self.identity(st, path: path), .inPlace(path: path, bytes: bytes))
        }
    }

    private func add(_ name: String, _ identity: Identity, _ target: Target) throws {
        try check(name, identity)
        staged.append((name, identity, target))
    }

    /// Refuses an input of the command and a second output to the same file.
    private func check(_ name: String, _ identity: Identity) throws {
        if let input = inputs.first(where: { $0.identity == identity }) {
            throw CLIError(
                "cannot write '\(name)': it is "
                    + (input.name == name ? "an input of this command" : "the input '\(input.name)' of this command"))
        }
        if let other = staged.first(where: { $0.identity == identity }) {
            throw CLIError(
                "cannot write '\(name)': "
                    + (other.name == name
                        ? "it is given twice as an output" : "it is the same file as the output '\(other.name)'"))
        }
    }

    /// Writes `bytes` to a new temporary beside `final`, with `existing`'s owner and mode when it replaces a file.
    private func temporary(_ name: String, _ final: String, like existing: stat?, _ bytes: [UInt8]) throws -> String {
        let (directory, base) = Self.split(final)
        let prefix = String(decoding: base.utf8.prefix(100), as: UTF8.self)
        let mask = Temporaries.blockSignals()
        var fd: Int32 = -1, path = ""
        for _ in 0..<100 {
            path =
                directory + "/." + prefix + ".graphc-\(getpid())-"
                + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, existing == nil ? 0o666 : 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        let openError = errno
        if fd >= 0 && !Temporaries.register(path) {
            _ = close(fd)
            _ = unlink(path)
            Temporaries.restoreSignals(mask)
            throw CLIError("cannot write '\(name)': too many outputs at once")
        }
        Temporaries.restoreSignals(mask)
        if fd < 0 { throw CLIError("cannot write '\(name)': \(Self.reason(openError))") }
        func fail(_ reason: String) -> CLIError {
            _ = close(fd)
            _ = unlink(path)
            Temporaries.unregister(path)
            return CLIError("cannot write '\(name)': \(reason)")
        }
        if let existing {
            var mine = stat()
            if fstat(fd, &mine) != 0 { throw fail(Self.reason(errno)) }
            if (mine.st_uid != existing.st_uid || mine.st_gid != existing.st_gid)
                && fchown(fd, existing.st_uid, existing.st_gid) != 0
            {
                throw fail(
                    "replacing it would change its owner or group (\(existing.st_uid):\(existing.st_gid)), "
                        + "and graphc cannot keep them")
            }
            // After fchown, which clears set-id bits.
            if fchmod(fd, existing.st_mode & 0o7777) != 0 { throw fail(Self.reason(errno)) }
        }
        let written = bytes.withUnsafeBytes { writeAll(fd, $0) }
        if written != 0 { throw fail(Self.reason(written)) }
        if fsync(fd) != 0 { throw fail(Self.reason(errno)) }
        if close(fd) != 0 {
            let e = errno
            _ = unlink(path)
            Temporaries.unregister(path)
            throw CLIError("cannot write '\(name)': \(Self.reason(e))")
        }
        return path
    }

    private func writeInPlace(_ name: String, _ path: String, _ bytes: [UInt8]) throws {
        var fd: Int32
        repeat { fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY) } while fd < 0 && errno == EINTR
        if fd < 0 { throw CLIError("cannot write '\(name)': \(Self.reason(errno))") }
        let written = bytes.withUnsafeBytes { writeAll(fd, $0) }
        let closed = close(fd) == 0 ? 0 : errno
        if written != 0 || (closed != 0 && closed != EINTR) {
            if written == EPIPE { StandardStream.failed(.output, errno: EPIPE) }
            throw CLIError("cannot write '\(name)': \(Self.reason(written != 0 ? written : closed))")
        }
    }

    // MARK: - Paths

    private static let directory: mode_t = 0o040000, regular: mode_t = 0o100000, symlink: mode_t = 0o120000
    private static func kind(_ st: stat) -> mode_t { st.st_mode & 0o170000 }

    private static func identity(_ st: stat, path: String) -> Identity {
        Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), path: path)
    }

    private static func identity(ofExisting name: String) -> Identity? {
        var st = stat()
        guard stat(name, &st) == 0 else { return nil }
        return identity(st, path: realPath(name) ?? name)
    }

    private static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    private static func linkText(_ path: String) -> String {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buffer, 4096)
        return n < 0 ? "?" : String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `a/b/c.png` → (`a/b`, `c.png`); `c.png` → (`.`, `c.png`); `/c` → (`/`, `c`).
    private static func split(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    private static func octal(_ mode: mode_t) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    static func reason(_ code: Int32) -> String {
        switch code {
        case EACCES, EPERM: "permission denied"
        case ENOSPC: "no space left on device"
        case ENOENT: "no such file or directory"
        case ENOTDIR: "a component of the path is not a directory"
        case EISDIR: "it is a directory"
        case EROFS: "read-only file system"
        default: String(cString: strerror(code))
        }
    }
}

/// The temporaries graphc has open, for the signal handlers: C strings in fixed slots, so that a handler can
/// unlink them without allocating or locking.
enum Temporaries {
    private static let capacity = 256
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        p.initialize(repeating: nil, count: capacity)
        return p
    }()
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Ignores SIGPIPE (so writes return EPIPE) and makes SIGINT, SIGTERM and SIGHUP remove the temporaries
    /// before they end graphc as they would have. The three are unblocked too: a parent's blocked mask is
    /// inherited (Foundation's Process passes on its thread's, where nearly everything is blocked), and a
    /// graphc that cannot be interrupted would wait at a FIFO forever.
    static func install() {
        _ = slots
        signal(SIGPIPE, SIG_IGN)
        for s in signals {
            signal(s) { sig in
                Temporaries.removeAll()
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals + [SIGPIPE] { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    static func register(_ path: String) -> Bool {
        for i in 0..<capacity where slots[i] == nil {
            slots[i] = strdup(path)
            return true
        }
        return false
    }

    static func unregister(_ path: String) {
        let mask = blockSignals()
        defer { restoreSignals(mask) }
        for i in 0..<capacity {
            if let p = slots[i], String(cString: p) == path {
                slots[i] = nil
                free(p)
            }
        }
    }

    /// Async-signal-safe: unlink only.
    static func removeAll() {
        for i in 0..<capacity {
            if let p = slots[i] { _ = unlink(p) }
        }
    }

    static func blockSignals() -> sigset_t {
        var set = sigset_t(), old = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, &old)
        return old
    }

    static func restoreSignals(_ old: sigset_t) {
        var old = old
        pthread_sigmask(SIG_SETMASK, &old, nil)
    }
}

extension ModelSource {
    /// The names among `names` that graphc reads as files (a zoo name wins over a file of that name).
    static func files(_ names: [String]) -> [String] { names.filter { Zoo.source(named: $0) == nil } }
}

extension ModelOptions {
    /// The model file this command reads, if the model is not from the zoo.
    var inputFiles: [String] { ModelSource.files([model]) }
}
