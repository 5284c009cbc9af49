// KernelOptions.swift — how the kernels of one call run: threads and product path.
// A value handed down with every pass (BlockForward holds it as an rtxk_exec); the
// kernels keep no global or thread-local copy, so sessions and schedulers on
// different threads run with their own settings side by side.
import CRTXKernels

public struct KernelOptions: Sendable, Equatable {
    public enum Products: Sendable, Equatable {
        /// GEMV for a few rows, the integer GEMM (8-bit activations) or sgemm above.
        case fast
        /// Large products in float (dequantized tiles + sgemm): exact prompts.
        case float
        /// Batch-invariant: a row's result never depends on the rows beside it (the
        /// scheduler's default). Quantized products take the integer product at
        /// every m (the GEMM tile from 8 rows, a row kernel below: one fold per row,
        /// Sources/CRTXKernels/internal.h), float ones the per-row dot, attention the
        /// per-token kernel.
        case rowwise
    }

    /// OpenMP threads of each kernel call (>= 1).
    public var threads: Int
    public var products: Products

    /// `threads` 0 means the machine's default (OMP_NUM_THREADS, else physical cores).
    public init(threads: Int = 0, products: Products = .fast) {
        self.threads = threads > 0 ? threads : Self.defaultThreads
        self.products = products
    }

    public static var defaultThreads: Int { Int(rtxk_default_threads()) }

    /// Whether a product of `rows` activation rows with a `type` weight rounds the
    /// activations to 8 bits under these options (GEMV, or the integer GEMM).
    public func roundsActivations(weight type: TensorType, rows: Int) -> Bool {
        rtxk_matmul_quantizes(Int32(type.rawValue), Int64(rows), exec) != 0
    }

    var exec: rtxk_exec {
        let mode: Int32
        switch products {
        case .fast: mode = Int32(RTXK_PRODUCTS_FAST)
        case .float: mode = Int32(RTXK_PRODUCTS_FLOAT)
        case .rowwise: mode = Int32(RTXK_PRODUCTS_ROWWISE)
        }
        return rtxk_exec(threads: Int32(clamping: threads), products: mode)
    }
}
