// .npy headers as numpy writes them (versions 1.0 and 2.0), and the ones graphc refuses.
import Executor
import Testing

@Suite struct NpyTests {
    static func file(_ header: String, major: UInt8 = 1, data: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        let length: [UInt8] =
            major == 1
            ? [UInt8(h.count & 0xFF), UInt8(h.count >> 8)]
            : [UInt8(h.count & 0xFF), UInt8(h.count >> 8), 0, 0]
        return [0x93] + Array("NUMPY".utf8) + [major, 0] + length + h + data
    }

    func error(_ bytes: [UInt8]) -> String {
        do {
            _ = try NpyArray.parse(bytes, file: "a.npy")
            return "no error"
        } catch {
            return error.description
        }
    }

    @Test func readsWhatNumpyWritesAndWritesWhatNumpyReads() throws {
        let one: [UInt8] = [0, 0, 0x80, 0x3F]
        // numpy.save(np.ones((1, 1), '<f4')), byte for byte.
        let numpy = Self.file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }"
                + String(repeating: " ", count: 58) + "\n", data: one)
        #expect(numpy.count == 128 + 4)
        #expect(try NpyArray.parse(numpy, file: "a.npy") == NpyArray(shape: [1, 1], data: one))
        #expect(NpyArray(shape: [1, 1], data: one).encoded == numpy)
        let v2 = Self.file("{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(1,)}\n", major: 2, data: one)
        #expect(try NpyArray.parse(v2, file: "a.npy").shape == [1])
        #expect(
            try NpyArray.parse(
                Self.file("{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", data: one),
                file: "a.npy"
            ).shape == [])
        let big = NpyArray(shape: [2, 3, 4], data: [UInt8](repeating: 7, count: 96))
        #expect(try NpyArray.parse(big.encoded, file: "b") == big)
        #expect((big.encoded.count - 96) % 64 == 0)
    }

    @Test func refusesOtherDtypesOrdersAndTruncation() {
        let d = [UInt8](repeating: 0, count: 8)
        #expect(
            error(Self.file("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", data: d))
                .contains("dtype '>f4'; graphc reads little-endian float32 ('<f4')"))
        #expect(
            error(Self.file("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n", data: d))
                .contains("Fortran order"))
        #expect(
            error(Self.file("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", data: d))
                .contains("shape [3] needs 12 bytes of data, the file has 8 (truncated file?)"))
        #expect(
            error(Self.file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", major: 4, data: d))
                .contains("format version 4.0"))
        #expect(error(Self.file("{'descr': '<f4', 'shape': (2,), }\n", data: d)).contains("no 'fortran_order'"))
        #expect(
            error(Self.file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,-1), }\n", data: d))
                .contains("bad header"))
        #expect(error(Array("\u{93}NUMPY".utf8)).contains("no \\x93NUMPY magic"))
        #expect(error([0x93] + Array("NUMPY".utf8) + [1, 0, 200, 0]).contains("the header length 200 exceeds"))
        #expect(error(Array("hello".utf8)).hasPrefix("'a.npy' is not a .npy file graphc reads"))
    }
}
