// RecursiveCheckpoint.swift — the recursive GGUF format (docs/recursive-gguf.md):
// metadata keys and tensor names, read and validated in one place so that the
// reader and the writer (Converter) cannot drift apart.

public enum RecursiveKeys {
    public static let formatVersion = "rtx.format_version"
    public static let sourceLayers = "rtx.recursion.source_layers"
    public static let uniqueLayers = "rtx.recursion.unique_layers"
    public static let loops = "rtx.recursion.loops"
    public static let strategy = "rtx.recursion.strategy"
    /// true: the final norm ends every loop (RecursionPlan.loopEndNorm; Ouro). Absent: false.
    public static let loopEndNorm = "rtx.recursion.loop_end_norm"
    public static let initMethod = "rtx.recursion.init"
    public static let loraRank = "rtx.lora.rank"
    public static let loraFullRank = "rtx.lora.full_rank"
    public static let loraTargets = "rtx.lora.targets"
    public static let perPositionNorms = "rtx.norms.per_position"
    public static let sourceParameters = "rtx.source.parameters"
    public static let sourceName = "rtx.source.name"
    /// Calibrated conversions: tokens of calibration text, sequential mode, ridge λ.
    public static let calibrationTokens = "rtx.calibration.tokens"
    public static let calibrationSequential = "rtx.calibration.sequential"
    public static let calibrationLambda = "rtx.calibration.lambda"
    public static let currentVersion = 1
}

/// How the shared block was initialised from the pretrained layers. `regmean`
/// needs calibration: the shared weight that minimises the tied positions'
/// output error on the calibration inputs (rtx_linalg.h, rtxk_regmean).
public enum InitMethod: String, Sendable, CaseIterable {
    case stepwise, average, lower, regmean
}

/// What a calibrated conversion was calibrated on (informative keys).
public struct CalibrationRecord: Sendable, Equatable {
    public var tokens: Int
    public var sequential: Bool
    public var lambda: Double
}

/// Tensor names of the recursive format.
public enum RecursiveTensorNames {
    /// GGUF short name of a block role ("attn_q"), as used by the LoRA and norm tensors.
    public static func shortName(_ role: BlockRole, _ arch: any Architecture.Type) -> String {
        // "blk.0.attn_q.weight" → "attn_q"
        let full = arch.ggufName(role, layer: 0)
        return String(full.dropFirst("blk.0.".count).dropLast(".weight".count))
    }
    public static func loraA(position p: Int, _ short: String) -> String { "rtx.lora.\(p).\(short).a" }
    public static func loraB(position p: Int, _ short: String) -> String { "rtx.lora.\(p).\(short).b" }
    public static func norm(position p: Int, _ short: String) -> String { "rtx.norm.\(p).\(short).weight" }
    /// A position's own bias (norm or linear map), stored with its norms.
    public static func bias(position p: Int, _ short: String) -> String { "rtx.norm.\(p).\(short).bias" }
    /// The learned exit gate after loop b (0-based, b < B − 1): λ_b = σ(w_b · norm(h) + c_b),
    /// weight w_b (d values) and bias c_b (1 value), both f32. Optional, all or none.
    public static func gateWeight(afterLoop b: Int) -> String { "rtx.gate.\(b).weight" }
    public static func gateBias(afterLoop b: Int) -> String { "rtx.gate.\(b).bias" }
    /// Every exit-gate tensor's name starts with this.
    public static let gatePrefix = "rtx.gate."
}

/// The recursion described by a checkpoint's rtx.* keys (absent: vanilla).
public struct RecursionSpec: Sendable {
    public var plan: RecursionPlan
    public var initMethod: InitMethod?
    /// Requested LoRA rank (0 = none); `fullRank` = min(in, out) per module.
    public var loraRank: Int
    public var fullRank: Bool
    public var loraTargets: [BlockRole]
    public var perPositionNorms: Bool
    public var sourceParameters: Int?
    /// nil: converted without calibration (plain SVD).
    public var calibration: CalibrationRecord? = nil

    public var isRecursive: Bool { !plan.isVanilla || loraRank > 0 || fullRank || perPositionNorms }

    /// Rank of the LoRA factors of a module with the given shape.
    public func rank(rows: Int, columns: Int) -> Int {
        let k = min(rows, columns)
        return fullRank ? k : min(loraRank, k)
    }

    /// Read and check the rtx.* keys against the architecture's depth L.
    public static func read(from gguf: GGUFFile, depth: Int, architecture arch: any Architecture.Type) throws -> RecursionSpec {
        let f = gguf.fileName
        guard let version = try gguf.int(RecursiveKeys.formatVersion) else {
            return RecursionSpec(plan: .vanilla(depth: depth), initMethod: nil, loraRank: 0, fullRank: false,
                                 loraTargets: [], perPositionNorms: false, sourceParameters: nil)
        }
        guard version == RecursiveKeys.currentVersion else {
            throw RTXError.unsupported("\(f): recursive format version \(version) is not supported (RTX reads version \(RecursiveKeys.currentVersion))")
        }
        func need(_ key: String) throws -> Int {
            guard let v = try gguf.int(key) else { throw RTXError.format("\(f): recursive checkpoint lacks '\(key)'") }
            return v
        }
        let source = try need(RecursiveKeys.sourceLayers)
        let unique = try need(RecursiveKeys.uniqueLayers)
        let loops = try need(RecursiveKeys.loops)
        guard source == depth else {
            throw RTXError.format("\(f): \(RecursiveKeys.sourceLayers) = \(source) but the architecture's block_count is \(depth)")
        }
        guard let strategyName = try gguf.string(RecursiveKeys.strategy) else {
            throw RTXError.format("\(f): recursive checkpoint lacks '\(RecursiveKeys.strategy)'")
        }
        guard let strategy = RecursionPlan.Strategy(rawValue: strategyName) else {
            throw RTXError.format("\(f): unknown recursion strategy '\(strategyName)' (known: cycle, sequence, middle-cycle)")
        }
        guard loops >= 1, loops <= depth else { throw RTXError.format("\(f): \(RecursiveKeys.loops) = \(loops) is out of range 1...\(depth)") }
        var plan: RecursionPlan
        do { plan = try RecursionPlan(strategy: strategy, positions: depth, loops: loops) } catch let e as RTXError {
            throw RTXError.format("\(f): \(e.message)")
        }
        plan.loopEndNorm = try gguf.bool(RecursiveKeys.loopEndNorm) ?? false
        guard !plan.loopEndNorm || plan.supportsLoopStepping else {
            throw RTXError.format("\(f): \(RecursiveKeys.loopEndNorm) needs contiguous loops (cycle or middle-cycle), not \(strategy.rawValue)")
        }
        guard plan.storedLayers == unique else {
            throw RTXError.format("\(f): \(RecursiveKeys.uniqueLayers) = \(unique) is inconsistent with \(loops) loops of \(depth) layers (\(strategy.rawValue) stores \(plan.storedLayers)); K·B must equal L")
        }
        var initMethod: InitMethod?
        if let name = try gguf.string(RecursiveKeys.initMethod) {
            guard let m = InitMethod(rawValue: name) else { throw RTXError.format("\(f): unknown init method '\(name)'") }
            initMethod = m
        }
        let rank = try gguf.int(RecursiveKeys.loraRank) ?? 0
        guard rank >= 0, rank <= 1 << 16 else { throw RTXError.format("\(f): \(RecursiveKeys.loraRank) = \(rank) is out of range") }
        let full = try gguf.bool(RecursiveKeys.loraFullRank) ?? false
        var targets: [BlockRole] = []
        if rank > 0 || full {
            let linear = BlockRole.linear.filter { arch.blockRoles.contains($0) }
            let names = try gguf.stringArray(RecursiveKeys.loraTargets) ?? linear.map { RecursiveTensorNames.shortName($0, arch) }
            for name in names {
                guard let role = linear.first(where: { RecursiveTensorNames.shortName($0, arch) == name }) else {
                    throw RTXError.format("\(f): unknown LoRA target '\(name)'")
                }
                targets.append(role)
            }
        }
        var calibration: CalibrationRecord?
        if let tokens = try gguf.int(RecursiveKeys.calibrationTokens) {
            calibration = CalibrationRecord(tokens: tokens, sequential: try gguf.bool(RecursiveKeys.calibrationSequential) ?? false,
                                            lambda: try gguf.float(RecursiveKeys.calibrationLambda) ?? 0)
        }
        return RecursionSpec(plan: plan, initMethod: initMethod, loraRank: rank, fullRank: full, loraTargets: targets,
                             perPositionNorms: try gguf.bool(RecursiveKeys.perPositionNorms) ?? false,
                             sourceParameters: try gguf.int(RecursiveKeys.sourceParameters), calibration: calibration)
    }

    /// Write these keys (the converter's side of the format).
    func write(to w: inout GGUFWriter, architecture arch: any Architecture.Type, sourceName: String?) {
        w.set(RecursiveKeys.formatVersion, .uint32(UInt32(RecursiveKeys.currentVersion)))
        w.set(RecursiveKeys.sourceLayers, .uint32(UInt32(plan.positions)))
        w.set(RecursiveKeys.uniqueLayers, .uint32(UInt32(plan.storedLayers)))
        w.set(RecursiveKeys.loops, .uint32(UInt32(plan.loops)))
        w.set(RecursiveKeys.strategy, .string(plan.strategy.rawValue))
        if plan.loopEndNorm { w.set(RecursiveKeys.loopEndNorm, .bool(true)) }
        if let initMethod { w.set(RecursiveKeys.initMethod, .string(initMethod.rawValue)) }
        w.set(RecursiveKeys.loraRank, .uint32(UInt32(loraRank)))
        w.set(RecursiveKeys.loraFullRank, .bool(fullRank))
        w.set(RecursiveKeys.loraTargets, .array(.string, loraTargets.map { .string(RecursiveTensorNames.shortName($0, arch)) }))
        w.set(RecursiveKeys.perPositionNorms, .bool(perPositionNorms))
        if let sourceParameters { w.set(RecursiveKeys.sourceParameters, .uint64(UInt64(sourceParameters))) }
        if let sourceName { w.set(RecursiveKeys.sourceName, .string(sourceName)) }
        if let calibration {
            w.set(RecursiveKeys.calibrationTokens, .uint64(UInt64(calibration.tokens)))
            w.set(RecursiveKeys.calibrationSequential, .bool(calibration.sequential))
            w.set(RecursiveKeys.calibrationLambda, .float64(calibration.lambda))
        }
    }
}
