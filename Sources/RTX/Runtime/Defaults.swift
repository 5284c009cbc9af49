// Defaults.swift — the default of every sampling, generation and context
// parameter, written once. SamplingParameters, GenerationOptions and
// Session.Options default to these; the C API's rtx_*_default_params fill from
// those structs; Python takes its defaults from the C functions and the `rtx`
// CLI from the structs (`rtx generate --print-params` prints what it uses).
// The values are llama.cpp's (common/common.h), so what a llama.cpp user types
// or leaves out means the same here.
public enum Defaults {
    // MARK: Sampling (llama.cpp: --temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.05
    //       --repeat-penalty 1.0 --repeat-last-n 64 --seed -1)

    public static let temperature: Float = 0.8
    public static let topK = 40
    public static let topP: Float = 0.95
    public static let minP: Float = 0.05
    /// 1: off, as in llama.cpp (a penalty changes what greedy decoding picks).
    public static let repeatPenalty: Float = 1.0
    public static let repeatLastN = 64
    /// A fresh seed per sampler, like llama.cpp's LLAMA_DEFAULT_SEED: two runs
    /// differ unless the caller picks a seed (then they are reproducible).
    public static let seed = SamplingParameters.randomSeed

    // MARK: Generation

    public static let maxTokens = 128
    /// BOS only if the model asks for it, and only at the start of a sequence.
    public static let addBOS = true
    /// Special-token text in a prompt (chat markup) becomes the special ids.
    public static let parseSpecial = true
    public static let stopAtEndOfGeneration = true
    /// Scheduler requests decode greedily unless given a temperature: depth-wise
    /// batching and early exit are judged token for token against full-depth
    /// solo runs (rtx bench serve, oracle exits), which sampling would blur.
    public static let requestSampling = SamplingParameters.greedy

    // MARK: Speculative decoding (Speculative.swift; off unless draft loops or a
    //       lookup n-gram size is given)

    /// Drafts per verification pass. A round of k loop-b drafts on a B-loop model
    /// costs k·b/B + 1 weight reads for (1 − α^(k+1)) / (1 − α) tokens at
    /// acceptance α; at b/B = 1/2 the best k is 1 for α ≤ 0.7, 2 at 0.8, 3 at 0.9
    /// (1.38× plain) and 5 at 0.95 (k = 3 gives 1.48× of its 1.51×). Drafts
    /// pay only at high α, where 3 is near the best; prompt-lookup drafts cost
    /// no weight reads and may use more.
    public static let draftLength = 3
    /// Models with exit gates: stop drafting when the gate's λ after the draft's
    /// last loop is below this (the gate predicts that loop's argmax to be the
    /// final loop's, i.e. the draft to be accepted under greedy decoding).
    public static let draftGateThreshold: Float = 0.5

    // MARK: Context

    /// KV capacity in tokens; 0 takes min(trained context, automaticContextLimit).
    public static let contextLength = 0
    /// llama.cpp's default n_ctx: a model trained on 128k tokens should not
    /// reserve a 128k-token cache unless asked.
    public static let automaticContextLimit = 4096
    /// Tokens per forward pass: llama.cpp's physical batch (n_ubatch), the rows
    /// one GEMM sees; its logical n_batch (2048) has no counterpart here.
    public static let batchSize = 512
    /// 0: one thread per physical core.
    public static let threads = 0
    /// Prompts through the integer GEMM over 8-bit activations, as llama.cpp.
    public static let floatPrompts = false
}
