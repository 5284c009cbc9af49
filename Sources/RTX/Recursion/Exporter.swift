// Exporter.swift — `rtx export --unroll`: a recursive model written back as a plain
// GGUF of L layers (W'_{s(p)} + B_p·A_p merged per position, norms per position),
// which llama.cpp and any GGUF reader can run: an external check of a conversion.
import CRTXKernels

public enum Exporter {
    /// Write `model` unrolled to `path`. Merged weights are stored as `type`;
    /// linear maps without a delta keep their stored bytes.
    public static func exportUnrolled(_ model: Model, to path: String, type: TensorType = .f32,
                                      progress: ((Float) -> Bool)? = nil) throws {
        guard type.isSupported, type != .q4_K, type != .q6_K else {
            throw RTXError.invalid("export type \(type) cannot be written (use f32, f16, bf16, q8_0, q4_0, q4_1 or q5_0)")
        }
        let arch = model.architecture
        let gguf = try model.requireGGUF("export")
        guard arch.biasedRoles.isEmpty, arch.fusedQKV(.gguf, layer: 0, hyper: model.hyper) == nil else {
            throw RTXError.unsupported("unrolled export of \(arch.name) (fused QKV, biases) is not implemented")
        }
        guard !model.plan.loopEndNorm else {
            throw RTXError.unsupported("unrolled export of a model with a loop-end norm (\(arch.name)) is not possible: a plain GGUF has no norm between its layers")
        }
        var w = GGUFWriter()
        w.alignment = gguf.alignment
        for key in gguf.keys where !key.hasPrefix("rtx.") && key != "general.alignment" {
            w.set(key, gguf.metadata[key]!)
        }
        for t in gguf.tensors where !t.name.hasPrefix("blk.") && !t.name.hasPrefix("rtx.") {
            try w.addTensor(t.name, dims: t.dims, type: t.type,
                            data: Array(UnsafeRawBufferPointer(start: gguf.bytes(of: t), count: t.byteCount)))
        }
        let L = model.plan.positions
        for p in 0..<L {
            let j = model.plan.sharedLayer(of: p)
            let at = model.weights.positions[p]
            for role in arch.blockRoles where role.isNorm {
                guard let values = at.norms[role] else { continue }
                try w.addTensor(arch.ggufName(role, layer: p), dims: [values.count], values: values)
            }
            for role in BlockRole.linear where arch.blockRoles.contains(role) {
                let shared = model.weights.layers[j][linear: role]
                let name = arch.ggufName(role, layer: p)
                guard let lora = at.lora[role], lora.rank > 0 else {
                    try w.addTensor(name, dims: [shared.columns, shared.rows], type: shared.type,
                                    data: Array(UnsafeRawBufferPointer(start: shared.data, count: shared.rows * shared.rowStride)))
                    continue
                }
                var merged = shared.dequantized()
                let b = lora.b.dequantized(), a = lora.a.dequantized()
                merged.withUnsafeMutableBufferPointer { m in
                    b.withUnsafeBufferPointer { bp in
                        a.withUnsafeBufferPointer { ap in
                            // merged (out × in) += B (out × r) · A (r × in)
                            rtxk_sgemm(m.baseAddress!, bp.baseAddress!, ap.baseAddress!, Int64(shared.rows),
                                       Int64(shared.columns), Int64(lora.rank), 1, 1)
                        }
                    }
                }
                try w.addTensor(name, dims: [shared.columns, shared.rows], values: merged, as: type)
            }
            if let progress, !progress(Float(p + 1) / Float(L)) {
                throw RTXError(.aborted, "export cancelled by the progress callback")
            }
        }
        try w.write(to: path)
    }
}
