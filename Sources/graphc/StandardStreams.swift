import Foundation  // the C library (write, poll, signal) comes through it

// Checked writes to stdout and stderr. Every byte graphc prints goes through `writeAll`, which retries
// interrupted and partial writes and reports the rest:
//   EPIPE (the reader went away, `graphc ir resnet50 | head -1`): graphc removes its temporaries and dies of
//     SIGPIPE, as cat and grep do, so the shell sees status 141 and prints nothing. SIGPIPE itself is
//     ignored while graphc runs, so that the write returns EPIPE instead of killing graphc mid-output.
//   anything else (ENOSPC from /dev/full, EBADF from a closed stream, EIO): one line on stderr, if stderr
//     still works, and exit status 1.
// Foundation's FileHandle.write and print are not used: the first crashes in a `try!` on any error, the
// second buffers in stdio and loses errors silently.

enum StandardStream: Int32 {
    case output = 1, error = 2

    var name: String { self == .output ? "standard output" : "standard error" }

    /// Writes all of `bytes`, or ends the process as described above.
    func write(_ bytes: [UInt8]) {
        let failure = bytes.withUnsafeBytes { writeAll(rawValue, $0) }
        if failure != 0 { StandardStream.failed(self, errno: failure) }
    }

    func write(_ text: String) { write(Array(text.utf8)) }

    /// Streams that were closed when graphc started (`>&-`); see `guardClosedStreams`.
    nonisolated(unsafe) static var closedAtStart: Set<Int32> = []

    static func failed(_ stream: StandardStream, errno code: Int32) -> Never {
        Temporaries.removeAll()
        if code == EPIPE {
            signal(SIGPIPE, SIG_DFL)
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGPIPE)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            raise(SIGPIPE)
            _exit(128 + SIGPIPE)
        }
        if stream == .output {
            let reason = code == EBADF ? "it is closed" : String(cString: strerror(code))
            let line = Array("graphc: error: cannot write to standard output: \(reason)\n".utf8)
            _ = line.withUnsafeBytes { writeAll(StandardStream.error.rawValue, $0) }
        }
        exit(1)
    }

    /// A stream closed at start (`graphc ir x >&-`) would hand its number to the next file graphc opens, and
    /// "stdout" would then write into that file. Each closed one gets /dev/null opened the wrong way round
    /// (read-only for stdout and stderr), so the number is taken and writes to it fail with EBADF.
    static func guardClosedStreams() {
        for fd: Int32 in [0, 1, 2] where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let opened = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY)
            if opened >= 0 && opened != fd {
                _ = dup2(opened, fd)
                _ = close(opened)
            }
            closedAtStart.insert(fd)
        }
    }
}

/// Writes the whole buffer to `fd`, retrying EINTR, short writes and EAGAIN (a non-blocking descriptor);
/// returns 0, or the errno of the failure.
func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int32 {
    var offset = 0
    while offset < buffer.count {
        let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
        if n > 0 {
            offset += n
            continue
        }
        let code = n == 0 ? EIO : errno
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK {
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, -1)
            continue
        }
        return code
    }
    return 0
}

/// Prints to stdout, checked.
func printOut(_ text: String, terminator: String = "\n") { StandardStream.output.write(text + terminator) }

/// Prints a line to stderr, checked.
func printError(_ text: String) { StandardStream.error.write(text + "\n") }
