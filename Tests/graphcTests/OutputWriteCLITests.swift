import Foundation
import Glibc
import Testing

/// How graphc writes its outputs: all or nothing, never onto an input, modes kept, special files in place,
/// no temporary left behind, whatever happens to the command. Every scenario checks that an existing file
/// changes only when the command succeeded, and lists the directory afterwards, to the file.
@Suite struct OutputWriteCLITests {
    /// A scratch directory with helpers to make and read its files.
    struct Scratch {
        let url: URL
        init() throws { url = try CLI.temporaryDirectory() }
        func path(_ name: String) -> String { url.appendingPathComponent(name).path }
        func write(_ name: String, _ text: String, mode: mode_t = 0o644) throws {
            try Data(text.utf8).write(to: url.appendingPathComponent(name))
            #expect(chmod(path(name), mode) == 0)
        }
        func read(_ name: String) -> String? {
            FileManager.default.contents(atPath: path(name)).map { String(decoding: $0, as: UTF8.self) }
        }
        func lstatOf(_ name: String) -> stat? {
            var st = stat()
            return lstat(path(name), &st) == 0 ? st : nil
        }
        func mode(_ name: String) -> mode_t? { lstatOf(name).map { $0.st_mode & 0o7777 } }
        func kind(_ name: String) -> mode_t? { lstatOf(name).map { $0.st_mode & 0o170000 } }
        /// Everything in the directory, hidden files (graphc's temporaries) included.
        var entries: Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []) }
        func remove() { try? FileManager.default.removeItem(at: url) }
    }

    static let fifo: mode_t = 0o010000, characterDevice: mode_t = 0o020000, symbolicLink: mode_t = 0o120000

    /// No backtrace, no Foundation error domain: graphc's own one-line message.
    func expectCleanError(_ r: CLIResult, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 1, "status \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(text), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(
            !r.stderr.contains("Backtrac") && !r.stderr.contains("crashed") && !r.stderr.contains("NSCocoa"),
            sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    }

    // MARK: - Targets that must not be replaced

    @Test func readOnlyFileIsNotReplaced() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try dir.write("ro.gir", "precious\n", mode: 0o444)
        let r = try CLI.run(["ir", "small_resnet", "-o", dir.path("ro.gir")])
        expectCleanError(r, "it is read-only (mode 0444)")
        #expect(dir.read("ro.gir") == "precious\n")
        #expect(dir.mode("ro.gir") == 0o444)
        #expect(dir.entries == ["ro.gir"])
    }

    /// As a user who owns a read-only file in a directory they can write: renaming over it would work,
    /// and must not be done.
    @Test func readOnlyFileIsNotReplacedForAnotherUser() throws {
        let asNobody = geteuid() == 0
        if asNobody && !FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") {
            print("skipped: running as root without setpriv to become nobody")
            return
        }
        let dir = try Scratch()
        defer { dir.remove() }
        #expect(chmod(dir.url.path, 0o777) == 0)
        try dir.write("ro.gir", "precious\n", mode: 0o444)
        if asNobody { #expect(chown(dir.path("ro.gir"), 65534, 65534) == 0) }
        let r = try CLI.shell(
            (asNobody ? "exec /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups " : "exec ")
                + "\"$G\" ir small_resnet -o ro.gir", cwd: dir.url)
        expectCleanError(r, "cannot write 'ro.gir': permission denied")
        #expect(dir.read("ro.gir") == "precious\n")
        #expect(dir.mode("ro.gir") == 0o444)
        #expect(dir.entries == ["ro.gir"])
    }

    @Test func modeAndOwnerSurviveAReplacement() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try dir.write("private.gir", "old\n", mode: 0o600)
        if geteuid() == 0 { #expect(chown(dir.path("private.gir"), 65534, 65534) == 0) }
        let r = try CLI.run(["ir", "small_resnet", "-o", dir.path("private.gir")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(dir.read("private.gir")?.hasPrefix("graph \"small_resnet\"") == true)
        #expect(dir.mode("private.gir") == 0o600)
        if geteuid() == 0 { #expect(dir.lstatOf("private.gir")?.st_uid == 65534) }
        #expect(dir.entries == ["private.gir"])
    }

    @Test func symlinkIsWrittenThroughAndStays() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try dir.write("real.gir", "old\n", mode: 0o640)
        #expect(symlink("real.gir", dir.path("link.gir")) == 0)
        let r = try CLI.run(["ir", "small_resnet", "-o", dir.path("link.gir")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(dir.kind("link.gir") == Self.symbolicLink)
        #expect(dir.read("real.gir")?.hasPrefix("graph \"small_resnet\"") == true)
        #expect(dir.mode("real.gir") == 0o640)
        #expect(dir.entries == ["real.gir", "link.gir"])

        #expect(symlink("nowhere.gir", dir.path("dangling.gir")) == 0)
        let dangling = try CLI.run(["ir", "small_resnet", "-o", dir.path("dangling.gir")])
        expectCleanError(dangling, "it is a symbolic link to 'nowhere.gir', which does not exist")
        #expect(dir.kind("dangling.gir") == Self.symbolicLink)
        #expect(dir.entries == ["real.gir", "link.gir", "dangling.gir"])
    }

    @Test func hardLinkedFileIsRefusedAndKeepsItsLinks() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try dir.write("a.gir", "shared\n")
        #expect(link(dir.path("a.gir"), dir.path("b.gir")) == 0)
        let r = try CLI.run(["ir", "small_resnet", "-o", dir.path("a.gir")])
        expectCleanError(r, "it has 2 hard links")
        #expect(dir.read("a.gir") == "shared\n")
        #expect(dir.lstatOf("a.gir")?.st_nlink == 2)
        #expect(dir.lstatOf("a.gir")?.st_ino == dir.lstatOf("b.gir")?.st_ino)
        #expect(dir.entries == ["a.gir", "b.gir"])
    }

    @Test func directoryTargetIsAOneLineError() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path("out"), withIntermediateDirectories: false)
        let r = try CLI.run(["ir", "small_resnet", "-o", dir.path("out")])
        expectCleanError(r, "cannot write '\(dir.path("out"))': it is a directory")
        #expect(dir.entries == ["out"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path("out")).isEmpty)
    }

    // MARK: - Inputs and several outputs

    @Test func inputIsNeverAnOutput() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        let source = try String(
            contentsOf: CLI.packageRoot.appendingPathComponent("examples/models/small_resnet.model"),
            encoding: .utf8)
        try dir.write("s.model", source)
        #expect(symlink("s.model", dir.path("alias.model")) == 0)
        let r = try CLI.run(["inspect", "s.model", "-o", "s.model"], cwd: dir.url)
        expectCleanError(r, "cannot write 's.model': it is an input of this command")
        let viaLink = try CLI.run(["inspect", "s.model", "-o", "alias.model"], cwd: dir.url)
        expectCleanError(viaLink, "cannot write 'alias.model': it is the input 's.model' of this command")
        #expect(dir.read("s.model") == source)
        #expect(dir.kind("alias.model") == Self.symbolicLink)
        #expect(dir.entries == ["s.model", "alias.model"])
    }

    @Test func twoOutputsAtOnePathAreRefused() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        let r = try CLI.run(
            ["timeline", "small_resnet", "--method", "fft", "-o", "x.dot", "--csv", "x.dot"], cwd: dir.url)
        expectCleanError(r, "cannot write 'x.dot': it is given twice as an output")
        #expect(dir.entries.isEmpty)
        try dir.write("y.dot", "old\n")
        let spelled = try CLI.run(["timeline", "small_resnet", "-o", "y.dot", "--csv", "./y.dot"], cwd: dir.url)
        expectCleanError(spelled, "cannot write './y.dot': it is the same file as the output 'y.dot'")
        #expect(dir.read("y.dot") == "old\n")
        #expect(dir.entries == ["y.dot"])
    }

    @Test func failingSecondOutputLeavesTheFirstUnchanged() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try dir.write("keep.dot", "keep\n")
        let r = try CLI.run(
            ["timeline", "small_resnet", "-o", "keep.dot", "--csv", "/nonexistent/t.csv"], cwd: dir.url)
        expectCleanError(r, "cannot write '/nonexistent/t.csv': no such file or directory")
        #expect(dir.read("keep.dot") == "keep\n")
        #expect(dir.entries == ["keep.dot"])
        // A new first output is not created either.
        let fresh = try CLI.run(
            ["timeline", "small_resnet", "-o", "new.dot", "--csv", "/nonexistent/t.csv"], cwd: dir.url)
        #expect(fresh.status == 1)
        #expect(dir.entries == ["keep.dot"])
    }

    @Test func bothOutputsLandWhenBothSucceed() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        try dir.write("t.dot", "old\n", mode: 0o600)
        let r = try CLI.run(["timeline", "small_resnet", "-o", "t.dot", "--csv", "t.csv"], cwd: dir.url)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(dir.read("t.dot")?.hasPrefix("digraph") == true)
        #expect(dir.read("t.csv")?.hasPrefix("step,node,phase") == true)
        #expect(dir.mode("t.dot") == 0o600)
        #expect(dir.entries == ["t.dot", "t.csv"])
    }

    // MARK: - Devices: in place, never replaced

    /// /dev/full itself as root would be replaced by the old writer; a private node of the same device
    /// (made with mknod, as root) keeps the test from touching the system's.
    func fullDevice(in dir: Scratch) -> (path: String, name: String?) {
        guard geteuid() == 0 else { return ("/dev/full", nil) }
        let made = mknod(dir.path("full"), Self.characterDevice | 0o666, dev_t(1 << 8 | 7)) == 0
        return made ? (dir.path("full"), "full") : ("/dev/full", nil)
    }

    @Test func fullDeviceIsAnErrorAndStaysADevice() throws {
        let dir = try Scratch()
        defer { dir.remove() }
        let full = fullDevice(in: dir)
        let r = try CLI.run(["ir", "small_resnet", "-o", full.path])
        expectCleanError(r, "cannot write '\(full.path)': no space left on device")
        var st = stat()
        #expect(lstat(full.path, &st) == 0 && st.st_mode & 0o170000 == Self.characterDevice)
        // As the second output of two: the first does not change.
        try dir.write("keep.dot", "keep\n")
        let two = try CLI.run(["timeline", "small_resnet", "-o", "keep.dot", "--csv", full.path], cwd: dir.url)
        expectCleanError(two, "no space left on device")
        #expect(dir.read("keep.dot") == "keep\n")
        #expect(lstat(full.path, &st) == 0 && st.st_mode & 0o170000 == Self.characterDevice)
        #expect(dir.entries == Set(["keep.dot"] + (full.name.map { [$0] } ?? [])))
    }

    @Test func devStdoutAndDashWriteToStdout() throws {
        let expected = try CLI.run(["ir", "small_resnet"]).stdout
        #expect(try CLI.run(["ir", "small_resnet", "-o", "-"]).stdout == expected)
        #expect(try CLI.shell("\"$G\" ir small_resnet -o /dev/stdout | cat").stdout == expected)
    }

    // MARK: - Killed mid-write

    /// `--csv` into a FIFO nobody reads: graphc has written the picture's temporary and waits at the FIFO
    /// when the signal comes; the temporary must go, the FIFO stay, and nothing else appear.
    @Test(arguments: [SIGTERM, SIGINT])
    func killedWriteLeavesNoTemporary(signal: Int32) throws {
        let dir = try Scratch()
        defer { dir.remove() }
        #expect(mkfifo(dir.path("fifo"), 0o644) == 0)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["timeline", "small_resnet", "-o", dir.path("out.dot"), "--csv", dir.path("fifo")]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline && !dir.entries.contains(where: { $0.hasPrefix(".") }) {
            usleep(20_000)
        }
        #expect(process.isRunning, "graphc should be waiting for a reader of the FIFO")
        #expect(dir.entries.contains(where: { $0.hasPrefix(".out.dot") }), "the picture's temporary: \(dir.entries)")
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal)
        #expect(dir.entries == ["fifo"])
        #expect(dir.kind("fifo") == Self.fifo)
    }

    // MARK: - Standard streams

    @Test func fullStdoutIsAOneLineError() throws {
        let ir = try CLI.shell("exec \"$G\" ir resnet50 > /dev/full")
        expectCleanError(ir, "graphc: error: cannot write to standard output: No space left on device")
        let zoo = try CLI.shell("exec \"$G\" zoo > /dev/full")
        expectCleanError(zoo, "cannot write to standard output")
        let verify = try CLI.shell("exec \"$G\" verify small_resnet > /dev/full")
        expectCleanError(verify, "cannot write to standard output")
    }

    @Test func closedStdoutIsAOneLineError() throws {
        let r = try CLI.shell("exec \"$G\" ir resnet50 >&-")
        expectCleanError(r, "graphc: error: cannot write to standard output: it is closed")
        // With -o, graphc does not need stdout, and the file it opens does not become stdout.
        let dir = try Scratch()
        defer { dir.remove() }
        let file = try CLI.shell("exec \"$G\" inspect small_resnet -o out.txt >&-", cwd: dir.url)
        #expect(file.status == 0, "\(file.stderr)")
        #expect(dir.read("out.txt")?.hasPrefix("small_resnet") == true)
        #expect(dir.entries == ["out.txt"])
    }

    @Test func brokenPipeEndsQuietlyWithStatus141() throws {
        // SIGPIPE ignored by the parent (as many supervisors and language runtimes do) and at its default.
        // The training step's DOT is megabytes, far more than a pipe holds, so head always leaves first.
        for prefix in ["trap '' PIPE; ", ""] {
            let r = try CLI.shell(
                prefix + "set -o pipefail; \"$G\" dot resnet50 --training | head -1; echo \"status $?\" >&2")
            #expect(r.stdout == "digraph \"resnet50\" {\n")
            #expect(r.stderr == "status 141\n", "\(prefix): \(r.stderr)")
            // The IR (36 KB) may fit in the pipe before head exits: status 0 or 141, quiet either way.
            let ir = try CLI.shell(prefix + "set -o pipefail; \"$G\" ir resnet50 | head -1; echo \"status $?\" >&2")
            #expect(ir.stdout == "graph \"resnet50\" {\n")
            #expect(ir.stderr == "status 141\n" || ir.stderr == "status 0\n", "\(prefix): \(ir.stderr)")
        }
    }

    @Test func fullOrClosedStderrEndsWithStatus1() throws {
        for redirect in ["2>/dev/full", "2>&-"] {
            let r = try CLI.shell("\"$G\" inspect no_such_model \(redirect); echo \"status $?\"")
            #expect(r.stdout == "status 1\n", "\(redirect): \(r.stdout)")
            #expect(r.stderr.isEmpty, "\(redirect): \(r.stderr)")
        }
    }
}
