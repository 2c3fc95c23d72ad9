// Batches of an `ImageDataset`, normalised on the fly into caller-provided views.
//
// Selection, in this order: `classes` keeps the samples whose label is listed (labels are kept as they
// are, not renumbered), then `limit` keeps the first N of those in file order, the same subset for every
// seed. Each epoch visits that subset in the order `order(epoch:)` gives: with `shuffle`, a Fisher–Yates
// shuffle drawn from `DataRandom(seed: seed, stream: epoch)` (DataRandom.swift documents both), else
// file order.
//
// A pixel byte b becomes x = b / 255, then the shift (below), then (x − mean) / std (Fashion-MNIST's
// 0.2860 and 0.3530 by default). Shifts, to test a model on data it was not trained on:
//   none       as is
//   invert     x ← 1 − x
//   rotate90   the image turned 90° counter-clockwise, as numpy.rot90(img): out[i][j] = in[j][W−1−i]
//              (square images only)
//   noise=σ    x ← clamp(x + σ·n, 0, 1), n standard normal from DataRandom(seed: seed ^ noiseSalt,
//              stream: sample index), Box–Muller: the same sample gets the same noise in any batch.
import GraphIR

/// How pixels are normalised after scaling to [0, 1].
public struct Normalization: Sendable, Hashable {
    public var mean: Float
    public var std: Float

    public init(mean: Float, std: Float) {
        self.mean = mean
        self.std = std
    }

    /// Fashion-MNIST's training-set mean and standard deviation.
    public static let fashionMNIST = Normalization(mean: 0.2860, std: 0.3530)
}

/// A transform of the test distribution (see the file's header).
public enum DataShift: Sendable, Hashable, CustomStringConvertible {
    case none, invert, rotate90
    case noise(sigma: Double)

    /// Parses `none`, `invert`, `rotate90` or `noise=SIGMA` (SIGMA ≥ 0).
    public static func parse(_ text: String) -> DataShift? {
        switch text {
        case "none": return DataShift.none
        case "invert": return .invert
        case "rotate90": return .rotate90
        default:
            guard text.hasPrefix("noise="), let sigma = Double(text.dropFirst(6)), sigma >= 0, sigma.isFinite else {
                return nil
            }
            return .noise(sigma: sigma)
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .invert: "invert"
        case .rotate90: "rotate90"
        case let .noise(sigma): "noise=\(sigma)"
        }
    }
}

/// Parses a class list: `3`, `0-4`, `0,2,7-9`; nil unless every entry is a label 0...255 and ranges ascend.
public func parseClassList(_ text: String) -> Set<Int>? {
    var classes = Set<Int>()
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 1 || bounds.count == 2,
            let lo = Int(bounds[0]), let hi = Int(bounds.last!), 0 <= lo, lo <= hi, hi <= 255
        else { return nil }
        classes.formUnion(lo...hi)
    }
    return classes
}

/// What to draw from a dataset and how (see the file's header).
public struct DataOptions: Sendable, Hashable {
    /// Keep only these labels (nil: all).
    public var classes: Set<Int>?
    public var shift: DataShift
    /// Keep at most this many samples (the first ones in file order, after `classes`).
    public var limit: Int?
    public var seed: UInt64
    public var shuffle: Bool
    public var normalization: Normalization

    public init(
        classes: Set<Int>? = nil, shift: DataShift = .none, limit: Int? = nil, seed: UInt64 = 0,
        shuffle: Bool = true, normalization: Normalization = .fashionMNIST
    ) {
        self.classes = classes
        self.shift = shift
        self.limit = limit
        self.seed = seed
        self.shuffle = shuffle
        self.normalization = normalization
    }
}

/// Selects, orders and normalises samples of a dataset into (N, 1, H, W) f32 and (N) i64 views.
public struct DataLoader: Sendable {
    public let dataset: ImageDataset
    public let options: DataOptions
    /// The selected samples' indices in the dataset, in file order.
    public let samples: [Int]

    /// Mixed into the seed of the noise streams so that they differ from the shuffles'.
    public static let noiseSalt: UInt64 = 0x6E6F_6973_6500_0000

    public init(_ dataset: ImageDataset, options: DataOptions = DataOptions()) throws(DataError) {
        if options.shift == .rotate90 && dataset.height != dataset.width {
            throw DataError(
                "rotate90 needs square images; '\(dataset.imagesFile)' holds "
                    + "\(dataset.height)x\(dataset.width)")
        }
        if let limit = options.limit, limit < 1 { throw DataError("limit must be at least 1, got \(limit)") }
        var samples: [Int]
        if let classes = options.classes {
            samples = (0..<dataset.count).filter { classes.contains(Int(dataset.labels[$0])) }
            if samples.isEmpty {
                let present = Set(dataset.labels).sorted().map(String.init).joined(separator: ", ")
                throw DataError(
                    "'\(dataset.imagesFile)' has no sample of the classes "
                        + classes.sorted().map(String.init).joined(separator: ", ")
                        + " (its labels: \(present))")
            }
        } else {
            samples = Array(0..<dataset.count)
        }
        if let limit = options.limit, limit < samples.count { samples.removeSubrange(limit...) }
        self.dataset = dataset
        self.options = options
        self.samples = samples
    }

    /// Number of selected samples.
    public var count: Int { samples.count }

    /// The selected samples in the order epoch `epoch` visits them.
    public func order(epoch: Int) -> [Int] {
        guard options.shuffle else { return samples }
        var order = samples
        var rng = DataRandom(seed: options.seed, stream: UInt64(truncatingIfNeeded: epoch))
        rng.shuffle(&order)
        return order
    }

    /// Batches of at most `size` samples per epoch (the last one smaller unless `dropLast`).
    public func batchCount(size: Int, dropLast: Bool = false) -> Int {
        precondition(size >= 1, "DataLoader: batch size \(size)")
        return dropLast ? count / size : (count + size - 1) / size
    }

    /// The dataset indices of batch `index` of `order`, at most `size` of them.
    public func batch(_ index: Int, of order: [Int], size: Int) -> ArraySlice<Int> {
        let start = index * size
        precondition(start >= 0 && start < order.count, "DataLoader: batch \(index) of \(order.count) samples")
        return order[start..<min(start + size, order.count)]
    }

    /// Writes the samples `indices` (dataset indices) into `images` (f32 [n, 1, H, W], n = indices.count)
    /// and, when given, their labels into `labels` (i64 [n]).
    public func fill(_ indices: some Collection<Int>, images: TensorView, labels: TensorView? = nil) {
        let h = dataset.height, w = dataset.width, pixels = h * w
        precondition(
            images.dtype == .f32 && images.shape == Shape([indices.count, 1, h, w]),
            "DataLoader: \(indices.count) images of \(h)x\(w) into \(images.dtype.rawValue)\(images.shape)")
        if let labels {
            precondition(
                labels.dtype == .i64 && labels.shape == Shape([indices.count]),
                "DataLoader: \(indices.count) labels into \(labels.dtype.rawValue)\(labels.shape)")
        }
        let mean = options.normalization.mean, std = options.normalization.std
        // Byte → normalised value, with the pixel-wise shift folded in.
        var table = [Float](repeating: 0, count: 256)
        for b in 0..<256 {
            let x = Float(b) / 255
            table[b] = ((options.shift == .invert ? 1 - x : x) - mean) / std
        }
        let out = images.f32
        dataset.images.withUnsafeBufferPointer { all in
            for (n, sample) in indices.enumerated() {
                precondition(sample >= 0 && sample < dataset.count, "DataLoader: sample \(sample) of \(dataset.count)")
                let src = all.baseAddress! + sample * pixels, dst = out + n * pixels
                switch options.shift {
                case .none, .invert:
                    for i in 0..<pixels { dst[i] = table[Int(src[i])] }
                case .rotate90:
                    for i in 0..<h {
                        for j in 0..<w { dst[i * w + j] = table[Int(src[j * w + (w - 1 - i)])] }
                    }
                case let .noise(sigma):
                    var rng = DataRandom(seed: options.seed ^ Self.noiseSalt, stream: UInt64(sample))
                    for i in 0..<pixels {
                        let x = Double(src[i]) / 255 + sigma * rng.gaussian()
                        dst[i] = (Float(min(max(x, 0), 1)) - mean) / std
                    }
                }
                labels?.i64[n] = Int64(dataset.labels[sample])
            }
        }
    }
}
