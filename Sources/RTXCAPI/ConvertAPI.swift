// ConvertAPI.swift — rtx.h §8: vanilla → recursive conversion and unrolled export.
import CRTXABI
import RTX

@_cdecl("rtx_convert_default_params")
public func rtx_convert_default_params(_ out: UnsafeMutablePointer<rtx_convert_params>?) {
    guard let out else { return }
    out.pointee = rtx_convert_params()
    out.pointee.struct_size = UInt32(MemoryLayout<rtx_convert_params>.size)
    out.pointee.loops = 2
    let calibration = CalibrationOptions(tokens: [])
    out.pointee.calibration_tokens = Int32(CalibrationOptions.defaultTokens)
    out.pointee.calibration_lambda = calibration.lambda
    out.pointee.calibration_threads = Int32(calibration.threads)
}

/// rtx_convert_params as the first header declared it (before calibration).
private let convertParamsFirstSize = MemoryLayout<rtx_convert_params>.offset(of: \.calibration_path)!

func optionalString(_ p: UnsafePointer<CChar>?, default d: String) -> String { p.map { String(cString: $0) } ?? d }

func tensorType(_ name: String, _ what: String) throws -> TensorType {
    guard let t = TensorType(name: name) else { throw RTXError.invalid("\(what) '\(name)' is not a tensor type") }
    return t
}

@_cdecl("rtx_convert")
public func rtx_convert(_ src: UnsafePointer<CChar>?, _ dst: UnsafePointer<CChar>?, _ params: UnsafePointer<rtx_convert_params>?) -> Int32 {
    guarded("rtx_convert") {
        let srcPath = String(cString: try required(src, "src_path"))
        let dstPath = String(cString: try required(dst, "dst_path"))
        var p = rtx_convert_params()
        rtx_convert_default_params(&p)
        if let params {
            p = try readParams(params, declared: params.pointee.struct_size, minimum: convertParamsFirstSize, defaults: p,
                               "rtx_convert_params")
        }
        let model = try Model(path: srcPath)
        var o = ConversionOptions()
        let strategyName = optionalString(p.strategy, default: "cycle")
        guard let strategy = RecursionPlan.Strategy(rawValue: strategyName) else {
            throw RTXError.invalid("unknown strategy '\(strategyName)' (cycle, sequence, middle-cycle)")
        }
        o.strategy = strategy
        if p.loops > 0 {
            o.loops = Int(p.loops)
        } else if p.unique_layers > 0 {
            o.loops = try RecursionPlan.loops(forStoredLayers: Int(p.unique_layers), positions: model.hyper.layerCount, strategy: strategy)
        } else {
            throw RTXError.invalid("give loops > 0 or unique_layers > 0")
        }
        let initName = optionalString(p.`init`, default: "average")
        guard let initMethod = InitMethod(rawValue: initName) else {
            throw RTXError.invalid("unknown init '\(initName)' (stepwise, average, lower, regmean)")
        }
        o.initMethod = initMethod
        switch p.lora_rank {
        case RTX_LORA_RANK_FULL: o.rank = .full
        case 0: o.rank = .none
        case let r where r > 0: o.rank = .rank(Int(r))
        default: throw RTXError.invalid("lora_rank \(p.lora_rank) is invalid (0, N > 0 or RTX_LORA_RANK_FULL)")
        }
        o.perPositionNorms = p.per_position_norms
        o.sharedType = try tensorType(optionalString(p.shared_type, default: "f32"), "shared_type")
        o.loraType = try tensorType(optionalString(p.lora_type, default: "f32"), "lora_type")
        if let path = p.calibration_path {
            var c = try CalibrationOptions(textFile: String(cString: path), model: model, maxTokens: Int(p.calibration_tokens))
            c.sequential = p.calibration_sequential
            c.lambda = p.calibration_lambda
            c.threads = Int(p.calibration_threads)
            o.calibration = c
        } else if p.calibration_sequential {
            throw RTXError.invalid("calibration_sequential needs calibration_path")
        }
        var progress: ((Float) -> Bool)?
        if let cb = p.progress {
            let user = p.progress_user_data
            progress = { cb($0, user) }
        }
        try Converter.convert(model, to: dstPath, options: o, progress: progress)
    }
}

@_cdecl("rtx_export_unrolled")
public func rtx_export_unrolled(_ src: UnsafePointer<CChar>?, _ dst: UnsafePointer<CChar>?, _ type: UnsafePointer<CChar>?,
                                _ progressCallback: (@convention(c) (Float, UnsafeMutableRawPointer?) -> Bool)?,
                                _ user: UnsafeMutableRawPointer?) -> Int32 {
    guarded("rtx_export_unrolled") {
        let srcPath = String(cString: try required(src, "src_path"))
        let dstPath = String(cString: try required(dst, "dst_path"))
        let t = try tensorType(optionalString(type, default: "f32"), "type")
        let model = try Model(path: srcPath)
        try Exporter.exportUnrolled(model, to: dstPath, type: t, progress: progressCallback.map { cb in { cb($0, user) } })
    }
}
