# reference_ouro.py — a NumPy forward of Ouro (ByteDance's looped LM) written from
# the published modeling code (modeling_ouro.py, OuroModel / OuroDecoderLayer /
# OuroForCausalLM), float64, eager attention:
#
#   per loop t = 0 … total_ut_steps − 1, per layer l (the same L layers every loop,
#   each (loop, layer) with its own KV cache slot: current_ut · L + layer_idx):
#       h = h + input_layernorm_2(attn(input_layernorm(h)))
#       h = h + post_attention_layernorm_2(mlp(post_attention_layernorm(h)))
#   then, at the end of loop t:
#       h      = model.norm(h)                 (the next loop's input)
#       gate_t = early_exit_gate(h)            (on the normed state)
#       logits_t = lm_head(h)                  (no further norm)
#   λ_t = σ(gate_t); p_t = λ_t Π_{j<t} (1 − λ_j) for t < T − 1, and the last step
#   takes what is left, p_{T−1} = Π_{j<T−1} (1 − λ_j); with exit_threshold q a
#   token exits at the first t whose cumulative Σ_{s≤t} p_s ≥ q (the last step if
#   none: the cumulative there is 1).
#
# Attention is Qwen2's: q/k/v/o without bias (Ouro's projections have none), RoPE
# on halves (rotate_half), grouped K/V heads, scale head_dim^-½, SwiGLU MLP.
from __future__ import annotations

import numpy as np

from reference_hf import attend, load_hf, rms_norm, rope_halves, silu


def forward(folder, tokens):
    """Every loop's logits (T, n, vocab), gate logits (T, n) and λ (T, n) of `tokens`."""
    c, w = load_hf(folder)
    eps, d, L, T = c["rms_norm_eps"], c["hidden_size"], c["num_hidden_layers"], c["total_ut_steps"]
    H, Hkv = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim") or d // H
    tokens = np.asarray(tokens)
    positions = np.arange(len(tokens))
    n = len(tokens)
    h = w["model.embed_tokens.weight"][tokens]
    head = w["model.embed_tokens.weight"] if c.get("tie_word_embeddings") else w["lm_head.weight"]
    logits, gates = [], []
    for _ in range(T):
        for layer in range(L):
            p = f"model.layers.{layer}."
            x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
            q = (x @ w[p + "self_attn.q_proj.weight"].T).reshape(n, H, hd)
            k = (x @ w[p + "self_attn.k_proj.weight"].T).reshape(n, Hkv, hd)
            v = (x @ w[p + "self_attn.v_proj.weight"].T).reshape(n, Hkv, hd)
            q = rope_halves(q, positions, c["rope_theta"], hd)
            k = rope_halves(k, positions, c["rope_theta"], hd)
            a = attend(q, k, v, hd ** -0.5).reshape(n, H * hd) @ w[p + "self_attn.o_proj.weight"].T
            h = h + rms_norm(a, w[p + "input_layernorm_2.weight"], eps)
            x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
            m = (silu(x @ w[p + "mlp.gate_proj.weight"].T) * (x @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
            h = h + rms_norm(m, w[p + "post_attention_layernorm_2.weight"], eps)
        h = rms_norm(h, w["model.norm.weight"], eps)
        gates.append(h @ w["model.early_exit_gate.weight"][0] + w["model.early_exit_gate.bias"][0])
        logits.append(h @ head.T)
    gates = np.stack(gates)
    return np.stack(logits), gates, 1.0 / (1.0 + np.exp(-gates))


def exit_pdf(lambdas):
    """OuroForCausalLM's exit distribution over the T steps, per token: (T, n)."""
    remaining = np.ones(lambdas.shape[1])
    pdf = []
    for t, lam in enumerate(lambdas):
        if t < len(lambdas) - 1:
            pdf.append(lam * remaining)
            remaining = remaining * (1.0 - lam)
        else:
            pdf.append(remaining)
    return np.stack(pdf)


def exit_steps(lambdas, threshold):
    """1-based loops each token runs under exit_threshold q: the first step whose
    cumulative exit probability reaches q (OuroForCausalLM.forward), and that
    cumulative mass (T, n) for the caller to check the margin to q."""
    cumulative = np.cumsum(exit_pdf(lambdas), axis=0)
    reached = cumulative >= threshold
    steps = np.where(reached.any(axis=0), reached.argmax(axis=0), len(lambdas) - 1)
    return steps + 1, cumulative
