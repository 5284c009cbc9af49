// Converter.swift — vanilla → (relaxed) recursive conversion (README, "Recursive models"):
// initialise the shared block (stepwise / average / lower / regmean), then relax
// each position with a LoRA delta from the truncated SVD of its residual
// W_p − W'_{s(p)}. With calibration (Calibration.swift) the SVD is whitened by
// the Gram matrix of the map's inputs (SVD-LLM), so the delta minimises the
// output error on real activations, not the weight error; in sequential mode
// those inputs come from the recursive model converted so far (GPTQ's order).
// Works in f32 from the loaded source model's weights, so either format
// converts: a GGUF source keeps its metadata; a Hugging Face folder gets GGUF
// metadata written from its hyper-parameters and tokenizer (GGUFMetadata.swift).
// A natively looped checkpoint (Ouro) is already recursive: it is written as the
// recursive GGUF of its own plan (K = L, B = total_ut_steps, the loop-end norm,
// its exit gate after every loop but the last), in the requested storage type.
import CRTXKernels
#if canImport(Glibc)
import Glibc
#endif

public struct ConversionOptions: Sendable {
    public enum Rank: Sendable, Equatable {
        case none, rank(Int), full
    }
    public var loops: Int = 2
    public var strategy: RecursionPlan.Strategy = .cycle
    public var initMethod: InitMethod = .average
    public var rank: Rank = .none
    /// Keep each position's norm weights and biases (full-rank conversion then reproduces the source exactly).
    public var perPositionNorms = false
    /// Storage of the shared block's linear weights (f32, f16, q8_0, …).
    public var sharedType: TensorType = .f32
    /// Storage of the LoRA factors (f32 or f16).
    public var loraType: TensorType = .f32
    /// Data-aware conversion: Gram matrices of the source's linear inputs over this
    /// text whiten the SVD; needed by the `regmean` init.
    public var calibration: CalibrationOptions? = nil

    public init() {}

    public func validate() throws {
        guard sharedType.isSupported, sharedType != .q4_K, sharedType != .q6_K else {
            throw RTXError.invalid("shared block type \(sharedType) cannot be written (use f32, f16, bf16, q8_0, q4_0, q4_1 or q5_0)")
        }
        guard loraType == .f32 || loraType == .f16 || loraType == .bf16 else {
            throw RTXError.invalid("LoRA type \(loraType) is not supported (use f32, f16 or bf16)")
        }
        if case .rank(let r) = rank, r < 0 { throw RTXError.invalid("LoRA rank \(r) is negative") }
        if initMethod == .regmean && calibration == nil {
            throw RTXError.invalid("the regmean init needs calibration text (it weighs each layer by its inputs)")
        }
    }
}

public struct ConversionReport: Sendable {
    public var seconds: Double
    public var sharedParameters: Int
    public var loraParameters: Int
    public var bytesWritten: Int
}

public enum Converter {
    /// Convert `source` (a vanilla model) and write the recursive GGUF to `outputPath`.
    /// `progress` gets values in [0, 1]; returning false aborts.
    @discardableResult
    public static func convert(_ source: Model, to outputPath: String, options: ConversionOptions,
                               progress: ((Float) -> Bool)? = nil) throws -> ConversionReport {
        let t0 = monotonicSeconds()
        try options.validate()
        if source.format == .huggingFace && source.plan.loopEndNorm {
            return try convertLooped(source, to: outputPath, options: options, progress: progress, start: t0)
        }
        guard source.plan.isVanilla, !source.recursion.isRecursive else {
            throw RTXError.invalid("'\(source.checkpoint.sourceName)' is already recursive; convert a vanilla model")
        }
        try checkOutput(outputPath, source: source)
        try options.calibration?.validate(for: source)
        var job = Conversion(source: source, spec: try recursionSpec(of: source, options), options: options, progress: progress)
        job.grams = try options.calibration.map { try Calibration.collect(source, options: $0) }
        try job.writeMetadataAndGlobalTensors()
        // Residuals are taken against the shared layers as stored, so those come first.
        for j in 0..<job.spec.plan.storedLayers { job.stored.append(try job.writeSharedLayer(j)) }
        var deltas = try (0..<job.spec.plan.positions).map { try job.factors(position: $0, grams: job.grams) }
        // (Without LoRA there is nothing to refit: the shared block never depends on the order.)
        if let calibration = options.calibration, calibration.sequential, !job.spec.loraTargets.isEmpty {
            try job.refitSequentially(&deltas, calibration: calibration, scratchPath: outputPath + ".calibrating")
        }
        job.loraParameters = try job.writePositions(deltas, to: &job.writer)
        try job.writer.write(to: outputPath)
        _ = progress?(1)
        return ConversionReport(seconds: monotonicSeconds() - t0, sharedParameters: job.sharedParameters,
                                loraParameters: job.loraParameters, bytesWritten: job.writer.serializedSize)
    }

    /// A looped checkpoint as the recursive GGUF of its own plan: the stored layers
    /// (linear maps in `options.sharedType`, norms f32), the global tensors, the
    /// rtx.* keys with the loop-end norm, and its gate as rtx.gate.{b}.* (f32) after
    /// each loop but the last. Options that would make another recursion (LoRA,
    /// per-position norms, calibration) are refused; loops, strategy and init do
    /// not apply: the checkpoint's plan is kept.
    static func convertLooped(_ source: Model, to outputPath: String, options: ConversionOptions,
                              progress: ((Float) -> Bool)?, start t0: Double) throws -> ConversionReport {
        let name = source.checkpoint.sourceName
        guard options.rank == .none, !options.perPositionNorms, options.calibration == nil else {
            throw RTXError.invalid("'\(name)' is a looped checkpoint (\(source.architecture.name), \(source.plan.loops) loops of \(source.plan.storedLayers) layers): it converts as it is, without LoRA, per-position norms or calibration")
        }
        try checkOutput(outputPath, source: source)
        var spec = source.recursion
        spec.sourceParameters = source.storedParameterCount
        var job = Conversion(source: source, spec: spec, options: options, progress: progress)
        try job.writeMetadataAndGlobalTensors()
        for j in 0..<spec.plan.storedLayers { job.stored.append(try job.writeSharedLayer(j)) }
        try job.writeExitGates()
        try job.writer.write(to: outputPath)
        _ = progress?(1)
        return ConversionReport(seconds: monotonicSeconds() - t0, sharedParameters: job.sharedParameters,
                                loraParameters: 0, bytesWritten: job.writer.serializedSize)
    }

    /// Fail before minutes of work: the output's folder must be writable, and the
    /// output must be neither a folder nor the (memory-mapped) source file.
    static func checkOutput(_ path: String, source: Model) throws {
        guard !path.isEmpty else { throw RTXError.invalid("convert: the output path is empty") }
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        guard access(folder.isEmpty ? "/" : folder, W_OK) == 0 else {
            throw RTXError(.io, "cannot write '\(path)': its folder is missing or not writable (\(String(cString: strerror(errno))))")
        }
        var out = stat()
        guard stat(path, &out) == 0 else { return }  // a new file
        guard (out.st_mode & S_IFMT) != S_IFDIR else { throw RTXError(.io, "cannot write '\(path)': it is a folder") }
        var src = stat()
        if let gguf = source.gguf, stat(gguf.file.path, &src) == 0, src.st_dev == out.st_dev, src.st_ino == out.st_ino {
            throw RTXError.invalid("convert: the output '\(path)' is the source file itself")
        }
    }

    /// The recursion the options ask of `source`: plan, init, LoRA rank and targets.
    static func recursionSpec(of source: Model, _ options: ConversionOptions) throws -> RecursionSpec {
        let arch = source.architecture
        let plan: RecursionPlan
        do { plan = try RecursionPlan(strategy: options.strategy, positions: source.hyper.layerCount, loops: options.loops) }
        catch let e as RTXError { throw RTXError.invalid("convert: \(e.message)") }
        let (rank, full): (Int, Bool) = {
            switch options.rank { case .none: return (0, false); case .rank(let r): return (r, false); case .full: return (0, true) }
        }()
        return RecursionSpec(plan: plan, initMethod: options.initMethod, loraRank: rank, fullRank: full,
                             loraTargets: (rank > 0 || full) ? BlockRole.linear.filter { arch.blockRoles.contains($0) } : [],
                             perPositionNorms: options.perPositionNorms,
                             sourceParameters: source.storedParameterCount,
                             calibration: options.calibration.map {
                                 CalibrationRecord(tokens: $0.tokens.count, sequential: $0.sequential, lambda: $0.lambda)
                             })
    }

    /// Source layers whose weights initialise stored layer j.
    static func initSources(plan: RecursionPlan, method: InitMethod, layer j: Int) -> [Int] {
        let L = plan.positions
        if plan.strategy == .middleCycle && (j == 0 || j == plan.storedLayers - 1) {
            return [j == 0 ? 0 : L - 1]
        }
        switch method {
        case .average, .regmean:
            return plan.positions(tiedTo: j)
        case .lower:
            return [j]
        case .stepwise:
            // round(linspace(lo, hi, n))[i] with NumPy's round-half-to-even.
            let (lo, hi, n, i): (Double, Double, Int, Int) = plan.strategy == .middleCycle
                ? (1, Double(L - 2), plan.storedLayers - 2, j - 1)
                : (0, Double(L - 1), plan.storedLayers, j)
            // NumPy: linspace = arange(n) * ((hi - lo) / (n - 1)) + lo (so 7 × 29/14 rounds to 15, not 14).
            let x = n == 1 ? lo : Double(i) * ((hi - lo) / Double(n - 1)) + lo
            return [Int(x.rounded(.toNearestOrEven))]
        }
    }

    /// GGUF dims of a role's tensor: [columns, rows], or [length] for a norm.
    static func sourceDims(_ m: Model, _ role: BlockRole) -> [Int] {
        let (rows, cols) = m.hyper.shape(of: role)
        return role.isNorm ? [rows] : [cols, rows]
    }

    /// A role's weights at source layer `layer` in f32, as the GGUF layout wants them:
    /// norms with the (1 + w) convention applied at load, linear maps dequantized, rows
    /// in GGUF order (Llama's q/k permuted for interleaved RoPE when read from HF).
    static func sourceValues(_ m: Model, role: BlockRole, layer: Int) throws -> [Float] {
        let weights = m.weights.layers[layer]
        if role.isNorm {
            guard let values = weights.norms[role] else { throw RTXError.format("\(m.checkpoint.sourceName): layer \(layer) has no \(role)") }
            return values
        }
        let w = weights[linear: role]
        let values = w.dequantized()
        guard let order = m.architecture.ggufRowOrder(role, from: m.format, hyper: m.hyper) else { return values }
        var out = [Float](repeating: 0, count: values.count)
        for (r, src) in order.enumerated() {
            out[(r * w.columns)..<((r + 1) * w.columns)] = values[(src * w.columns)..<((src + 1) * w.columns)]
        }
        return out
    }

    static func sourceBias(_ m: Model, role: BlockRole, layer: Int) throws -> [Float] {
        guard let b = m.weights.layers[layer].biases[role] else { throw RTXError.format("\(m.checkpoint.sourceName): layer \(layer) has no \(role) bias") }
        return b
    }

    /// Element-wise mean of equally long vectors (the average init; one vector: itself).
    static func average(_ vectors: [[Float]]) -> [Float] {
        var values = vectors[0]
        for v in vectors.dropFirst() { for i in values.indices { values[i] += v[i] } }
        if vectors.count > 1 {
            let scale = 1 / Float(vectors.count)
            for i in values.indices { values[i] *= scale }
        }
        return values
    }

    /// values → type → f32: what a reader of the stored tensor will see.
    static func roundTrip(_ values: [Float], columns: Int, type: TensorType) -> [Float] {
        let rows = values.count / columns
        let rowBytes = type.rowBytes(columns)
        var tmp = [UInt8](repeating: 0, count: rowBytes)
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { o in
                tmp.withUnsafeMutableBytes { t in
                    for r in 0..<rows {
                        _ = rtxk_quantize_row(t.baseAddress!, v.baseAddress! + r * columns, Int32(type.rawValue), Int64(columns))
                        rtxk_dequantize_row(o.baseAddress! + r * columns, t.baseAddress!, Int32(type.rawValue), Int64(columns))
                    }
                }
            }
        }
        return out
    }
}

/// One conversion in progress: the writer, the progress count and the
/// parameter totals, and one method per kind of tensor it writes.
private struct Conversion {
    let source: Model
    let spec: RecursionSpec
    let options: ConversionOptions
    let progress: ((Float) -> Bool)?
    var writer = GGUFWriter()
    var sharedParameters = 0
    var loraParameters = 0
    /// Calibration: Grams of the source's linear inputs per position (nil: plain SVD).
    var grams: GramSet?
    /// Each stored layer's linear and norm weights as a reader will see them.
    var stored: [[BlockRole: [Float]]] = []
    /// Progress in steps: one per shared-layer role, one per position and LoRA target.
    private var done: Float = 0
    private let total: Float
    var arch: any Architecture.Type { source.architecture }

    init(source: Model, spec: RecursionSpec, options: ConversionOptions, progress: ((Float) -> Bool)?) {
        self.source = source
        self.spec = spec
        self.options = options
        self.progress = progress
        // Sequential calibration factors every position twice.
        let passes = options.calibration?.sequential == true ? 2 : 1
        self.total = Float(spec.plan.storedLayers * source.architecture.blockRoles.count
                           + passes * spec.plan.positions * max(spec.loraTargets.count, 1))
    }

    private mutating func step() throws {
        done += 1
        if let progress, !progress(min(done / total, 1)) {
            throw RTXError(.aborted, "conversion cancelled by the progress callback")
        }
    }

    /// The source's metadata plus the rtx.* keys, and the tensors outside the
    /// blocks (embedding, final norm, LM head). A GGUF source's are copied as
    /// stored; a Hugging Face folder's are written from its hyper-parameters.
    mutating func writeMetadataAndGlobalTensors() throws {
        guard let gguf = source.gguf else {
            try GGUFMetadata.write(source, to: &writer)
            spec.write(to: &writer, architecture: arch, sourceName: source.checkpoint.sourceName)
            try GGUFMetadata.writeGlobalTensors(source, to: &writer)
            return
        }
        writer.alignment = gguf.alignment
        for key in gguf.keys where key != "general.alignment" {
            writer.set(key, gguf.metadata[key]!)
        }
        spec.write(to: &writer, architecture: arch, sourceName: try gguf.string("general.name"))
        for t in gguf.tensors where !t.name.hasPrefix("blk.") {
            let raw = UnsafeRawBufferPointer(start: gguf.bytes(of: t), count: t.byteCount)
            try writer.addTensor(t.name, dims: t.dims, type: t.type, data: Array(raw))
        }
    }

    /// Initialise each role of stored layer j from its source layers and write
    /// it. Returns the *stored* (quantized-then-dequantized) values: residuals
    /// are taken against them, so a full-rank delta recovers the source exactly.
    mutating func writeSharedLayer(_ j: Int) throws -> [BlockRole: [Float]] {
        // A looped source's stored layer j is the layer j written.
        let sources = source.plan.isVanilla ? Converter.initSources(plan: spec.plan, method: options.initMethod, layer: j) : [j]
        var layer: [BlockRole: [Float]] = [:]
        let fused = arch.fusedQKV(.gguf, layer: j, hyper: source.hyper)
        var fusedValues: [Float] = [], fusedBias: [Float] = []
        for role in arch.blockRoles {
            let name = arch.ggufName(role, layer: j)
            let dims = Converter.sourceDims(source, role)
            let values = try initialValues(role, sources: sources)
            let type = role.isNorm ? TensorType.f32 : options.sharedType
            let bias = arch.biasedRoles.contains(role)
                ? Converter.average(try sources.map { try Converter.sourceBias(source, role: role, layer: $0) }) : nil
            if let fused, fused.rows[role] != nil {
                // Q, K, V go into one tensor, in [Q | K | V] order (the GGUF layout).
                fusedValues += values
                if let bias { fusedBias += bias }
                if role == .attnV {
                    try writer.addTensor(fused.name, dims: [dims[0], fusedValues.count / dims[0]], values: fusedValues, as: type)
                    if !fusedBias.isEmpty { try writer.addTensor(biasName(fused.name), dims: [fusedBias.count], values: fusedBias) }
                }
            } else {
                try writer.addTensor(name, dims: dims, values: values, as: type)
                if let bias { try writer.addTensor(biasName(name), dims: [bias.count], values: bias) }
            }
            layer[role] = type == .f32 ? values : Converter.roundTrip(values, columns: dims[0], type: type)
            sharedParameters += values.count
            try step()
        }
        return layer
    }

    /// A shared role's initial values from its source layers: their average, or
    /// for a linear map under `regmean`, the weight that minimises their output
    /// error on the calibration inputs.
    private func initialValues(_ role: BlockRole, sources: [Int]) throws -> [Float] {
        let values = try sources.map { try Converter.sourceValues(source, role: role, layer: $0) }
        guard options.initMethod == .regmean, !role.isNorm, sources.count > 1, let grams else {
            return Converter.average(values)
        }
        let (rows, cols) = source.hyper.shape(of: role)
        let input = LinearInput(role)
        let g = try sources.map { p in
            guard let g = grams.gram(position: p, input) else { throw RTXError(.internal, "no calibration Gram at position \(p)") }
            return g
        }
        var out = [Float](repeating: 0, count: rows * cols)
        let info = withPointers(values) { w in
            withPointers(g) { gp in
                out.withUnsafeMutableBufferPointer {
                    rtxk_regmean($0.baseAddress!, w, gp, Int32(sources.count), Int64(rows), Int64(cols), options.calibration!.lambda)
                }
            }
        }
        guard info == 0 else {
            throw RTXError(.internal, "RegMean solve for \(arch.ggufName(role, layer: sources[0])) failed (LAPACK info \(info))")
        }
        return out
    }

    /// A looped source's exit gates (rtx.gate.{b}.weight (d) and .bias (1), f32).
    mutating func writeExitGates() throws {
        for (b, gate) in source.weights.exitGates.enumerated() {
            try writer.addTensor(RecursiveTensorNames.gateWeight(afterLoop: b), dims: [gate.weight.columns],
                                 values: gate.weight.dequantized(), as: .f32)
            try writer.addTensor(RecursiveTensorNames.gateBias(afterLoop: b), dims: [1], values: [gate.bias], as: .f32)
        }
    }

    /// Position p's own norm weights and biases, copied from source layer p.
    func writePositionNorms(_ p: Int, to writer: inout GGUFWriter) throws {
        for role in arch.blockRoles where role.isNorm {
            let values = try Converter.sourceValues(source, role: role, layer: p)
            try writer.addTensor(RecursiveTensorNames.norm(position: p, RecursiveTensorNames.shortName(role, arch)),
                                 dims: [values.count], values: values, as: .f32)
        }
        for role in arch.biasedRoles {
            let bias = try Converter.sourceBias(source, role: role, layer: p)
            try writer.addTensor(RecursiveTensorNames.bias(position: p, RecursiveTensorNames.shortName(role, arch)),
                                 dims: [bias.count], values: bias)
        }
    }

    /// One position's LoRA factors, per target role.
    typealias Deltas = [BlockRole: (a: [Float], b: [Float])]

    /// Position p's LoRA deltas: for each target, the truncated SVD of the
    /// residual W_p − W'_{s(p)} against its shared layer as stored — whitened by
    /// the Gram of the map's inputs at p when `grams` has it.
    mutating func factors(position p: Int, grams: GramSet?) throws -> Deltas {
        var out: Deltas = [:]
        let shared = stored[spec.plan.sharedLayer(of: p)]
        for role in spec.loraTargets {
            let dims = Converter.sourceDims(source, role)
            let rows = dims[1], cols = dims[0]
            var residual = try Converter.sourceValues(source, role: role, layer: p)
            let base = shared[role]!
            for i in residual.indices { residual[i] -= base[i] }
            out[role] = try factor(residual, rows: rows, columns: cols, rank: spec.rank(rows: rows, columns: cols),
                                   gram: grams?.gram(position: p, LinearInput(role)),
                                   what: "\(arch.ggufName(role, layer: p)) at position \(p)")
            try step()
        }
        return out
    }

    /// Sequential calibration (GPTQ's order): position p's factors are refitted on
    /// the inputs that reach p in the recursive model whose earlier positions are
    /// final (its later ones carry the factors fitted on the vanilla model's
    /// inputs). Each refit runs that model from a provisional file at
    /// `scratchPath`, removed at the end.
    mutating func refitSequentially(_ deltas: inout [Deltas], calibration: CalibrationOptions, scratchPath: String) throws {
        defer { unlink(scratchPath) }
        for p in 0..<spec.plan.positions {
            var provisional = writer
            _ = try writePositions(deltas, to: &provisional)
            unlink(scratchPath)  // never rewrite a file a model still maps
            try provisional.write(to: scratchPath)
            let model = try Model(path: scratchPath)
            deltas[p] = try factors(position: p, grams: try Calibration.collect(model, options: calibration, positions: p..<(p + 1)))
        }
    }

    /// Every position's own norms (when kept) and LoRA factors; returns the LoRA
    /// parameters written.
    func writePositions(_ deltas: [Deltas], to writer: inout GGUFWriter) throws -> Int {
        var parameters = 0
        for p in 0..<spec.plan.positions {
            if options.perPositionNorms { try writePositionNorms(p, to: &writer) }
            parameters += try writeLoRA(deltas[p], position: p, to: &writer)
        }
        return parameters
    }

    /// Write position p's LoRA factors (A: r × columns, B: rows × r); returns their parameters.
    func writeLoRA(_ deltas: Deltas, position p: Int, to writer: inout GGUFWriter) throws -> Int {
        var parameters = 0
        for role in spec.loraTargets {
            let (a, b) = deltas[role]!
            let dims = Converter.sourceDims(source, role)
            let cols = dims[0], rows = dims[1], r = a.count / cols
            let short = RecursiveTensorNames.shortName(role, arch)
            try writer.addTensor(RecursiveTensorNames.loraA(position: p, short), dims: [cols, r], values: a, as: options.loraType)
            try writer.addTensor(RecursiveTensorNames.loraB(position: p, short), dims: [r, rows], values: b, as: options.loraType)
            parameters += a.count + b.count
        }
        return parameters
    }

    /// A (r × columns) and B (rows × r) with B·A the best rank-r approximation of
    /// `residual` (rows × columns) — in the weights, or with a Gram `gram` of the
    /// map's inputs, in its outputs on them; zeros when the residual is zero.
    private func factor(_ residual: [Float], rows: Int, columns cols: Int, rank r: Int, gram: [Double]?,
                        what: String) throws -> (a: [Float], b: [Float]) {
        var b = [Float](repeating: 0, count: rows * r)
        var a = [Float](repeating: 0, count: r * cols)
        guard r > 0, residual.contains(where: { $0 != 0 }) else { return (a, b) }
        let info = b.withUnsafeMutableBufferPointer { bp in
            a.withUnsafeMutableBufferPointer { ap in
                residual.withUnsafeBufferPointer { rp in
                    if let gram {
                        return gram.withUnsafeBufferPointer {
                            rtxk_whitened_svd(bp.baseAddress!, ap.baseAddress!, rp.baseAddress!, $0.baseAddress!,
                                              Int64(rows), Int64(cols), Int64(r), options.calibration!.lambda)
                        }
                    }
                    return rtxk_truncated_svd(bp.baseAddress!, ap.baseAddress!, rp.baseAddress!, Int64(rows), Int64(cols), Int64(r))
                }
            }
        }
        guard info == 0 else {
            throw RTXError(.internal, "\(gram == nil ? "SVD" : "whitened SVD") of the residual of \(what) failed (LAPACK info \(info))")
        }
        return (a, b)
    }
}

/// Base addresses of arrays, for the duration of `body` (C's `const T *const *`).
private func withPointers<T, R>(_ arrays: [[T]], _ body: (UnsafePointer<UnsafePointer<T>?>) -> R) -> R {
    func nest(_ i: Int, _ acc: [UnsafePointer<T>?]) -> R {
        guard i < arrays.count else { return acc.withUnsafeBufferPointer { body($0.baseAddress!) } }
        return arrays[i].withUnsafeBufferPointer { nest(i + 1, acc + [$0.baseAddress]) }
    }
    return nest(0, [])
}
