// Image classification datasets in IDX files: Fashion-MNIST from Debian's dataset-fashion-mnist
// (/usr/share/datasets/fashion-mnist), or any directory holding an IDX image/label pair under the MNIST
// names (train-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz], ...). Images stay bytes (47 MB for
// Fashion-MNIST's 60,000 training images instead of 188 as f32); `DataLoader` normalises each batch.
import GraphIR

/// Images (count × height × width bytes) and their labels (one byte each), as the IDX files hold them.
public struct ImageDataset: Sendable {
    public let images: [UInt8]
    public let labels: [UInt8]
    public let count: Int
    public let height: Int
    public let width: Int
    /// Where the images came from, for messages.
    public let imagesFile: String
    /// Where the labels came from.
    public let labelsFile: String

    /// The two splits of the MNIST family of datasets.
    public enum Split: String, Sendable, CaseIterable {
        case train, test

        /// The file-name stem: `train` or `t10k`.
        var stem: String { self == .train ? "train" : "t10k" }
    }

    /// Where Debian's `dataset-fashion-mnist` installs Fashion-MNIST.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// The command that installs Fashion-MNIST, for messages.
    public static let fashionMNISTInstallHint =
        "install Fashion-MNIST with `apt-get install dataset-fashion-mnist` (or `scripts/install-deps`)"

    /// A dataset of `images` (rank 3: count, rows, columns) and `labels` (rank 1: count).
    public init(images: IDXArray, labels: IDXArray, imagesFile: String, labelsFile: String) throws(DataError) {
        guard images.dims.count == 3 else {
            throw DataError(
                "'\(imagesFile)' holds \(Shape.compact(images.dims)) bytes; IDX images are rank 3 "
                    + "(count x rows x columns)")
        }
        guard labels.dims.count == 1 else {
            throw DataError("'\(labelsFile)' holds \(Shape.compact(labels.dims)) bytes; IDX labels are rank 1 (count)")
        }
        guard images.dims[0] == labels.dims[0] else {
            throw DataError(
                "'\(imagesFile)' has \(images.dims[0]) images but '\(labelsFile)' has "
                    + "\(labels.dims[0]) labels")
        }
        self.images = images.bytes
        self.labels = labels.bytes
        count = images.dims[0]
        height = images.dims[1]
        width = images.dims[2]
        self.imagesFile = imagesFile
        self.labelsFile = labelsFile
    }

    /// Reads an IDX image file and its label file (gzipped or not).
    public init(imagesFile: String, labelsFile: String) throws(DataError) {
        let images = try Self.readIDX(imagesFile), labels = try Self.readIDX(labelsFile)
        try self.init(images: images, labels: labels, imagesFile: imagesFile, labelsFile: labelsFile)
    }

    /// The names a split's files go by, in the order they are looked for: the gzipped IDX files as
    /// distributed (Fashion-MNIST, MNIST), unpacked ones, and the dotted names of some MNIST mirrors.
    public static func fileNames(_ split: Split) -> (images: [String], labels: [String]) {
        func names(_ kind: String, _ rank: Int) -> [String] {
            let base = "\(split.stem)-\(kind)-idx\(rank)-ubyte", dotted = "\(split.stem)-\(kind).idx\(rank)-ubyte"
            return [base + ".gz", base, dotted + ".gz", dotted]
        }
        return (names("images", 3), names("labels", 1))
    }

    /// The `split` of the IDX pair in `directory` (default: Debian's Fashion-MNIST).
    public static func load(directory: String = fashionMNISTDirectory, split: Split) throws(DataError) -> ImageDataset {
        let names = fileNames(split)
        let hint = isFashionMNIST(directory) ? "; " + fashionMNISTInstallHint : ""
        if !DataFiles.isDirectory(directory) {
            throw DataError(
                "cannot read the dataset directory '\(directory)': "
                    + (DataFiles.exists(directory) ? "it is not a directory" : "no such directory") + hint)
        }
        func find(_ candidates: [String]) throws(DataError) -> String {
            let prefix = directory.hasSuffix("/") ? directory : directory + "/"
            if let found = candidates.first(where: { DataFiles.exists(prefix + $0) }) { return prefix + found }
            throw DataError(
                "cannot read '\(prefix + candidates[0])': no such file or directory (also looked for "
                    + candidates.dropFirst().joined(separator: ", ") + ")" + hint)
        }
        return try ImageDataset(imagesFile: try find(names.images), labelsFile: try find(names.labels))
    }

    private static func isFashionMNIST(_ directory: String) -> Bool {
        var d = directory
        while d.count > 1 && d.hasSuffix("/") { d.removeLast() }
        return d == fashionMNISTDirectory
    }

    private static func readIDX(_ path: String) throws(DataError) -> IDXArray {
        do {
            return try IDXArray.read(path)
        } catch {
            let hint =
                path.hasPrefix(fashionMNISTDirectory + "/") && !DataFiles.exists(path)
                ? "; " + fashionMNISTInstallHint : ""
            throw DataError(error.description + hint)
        }
    }
}
