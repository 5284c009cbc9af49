"""KV truncation and speculative decoding through the bindings, on the real
SmolLM2: truncating a context and evaluating other tokens gives a fresh
context's logits bit for bit; greedy self-speculative decoding of SmolLM2
converted to B = 2 (loop-1 drafts) and greedy prompt-lookup decoding of the
vanilla model give plain decoding's tokens, and report their counts."""
import numpy as np  # before rtx
import pytest

import rtx

PARAGRAPH = ("The lighthouse keeper climbed the spiral stairs every evening at dusk, "
             "trimmed the wick, polished the great lens, and wrote the weather in a small brown book.")
REPEAT = f"Repeat the following text exactly: {PARAGRAPH}"


@pytest.fixture(scope="module")
def recursive(model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("spec") / "b2-r16.gguf"
    rtx.convert(model_path, out, loops=2, lora_rank=16, shared_type="q8_0", lora_type="f16")
    with rtx.Model(out) as m:
        yield m


def greedy(model, prompt, n, **kw):
    # Plain decoding in batch-invariant mode is the reference (drafts imply the mode).
    g = model.generate(prompt, max_tokens=n, temperature=0, stop_at_eos=False, batch_invariant=True, **kw)
    text = "".join(g)
    return g.tokens, text, g.result


def test_truncate_then_eval_equals_a_fresh_context(model):
    kept = model.tokenize("The capital of France is")
    with model.context(n_ctx=64) as a, model.context(n_ctx=64) as fresh:
        a.eval(kept)
        a.eval(model.tokenize(" a city of bridges and"), all_logits=True)
        a.truncate(len(kept))
        assert a.n_past == len(kept)
        edit = model.tokenize(" Paris, on the Seine")
        got = a.eval(edit, all_logits=True)
        fresh.eval(kept)
        want = fresh.eval(edit, all_logits=True)
        assert np.array_equal(got, want)
        # The kept tokens' logits stay readable; bad n_past raises and changes nothing.
        a.truncate(a.n_past - 1)
        assert np.array_equal(a.logits(), want[-2])
        with pytest.raises(rtx.InvalidArgumentError, match="n_past"):
            a.truncate(a.n_past + 1)
        with pytest.raises(rtx.InvalidArgumentError):
            a.truncate(-1)
        assert a.n_past == len(kept) + len(edit) - 1


def test_greedy_self_speculative_decoding_equals_plain_decoding(recursive):
    prompt = recursive.chat([{"role": "user", "content": "Name three planets."}])
    plain, plain_text, _ = greedy(recursive, prompt, 24)
    for draft_len in (1, 3):
        tokens, text, result = greedy(recursive, prompt, 24, draft_loops=1, draft_len=draft_len)
        assert tokens == plain and text == plain_text
        assert result["n_draft_rounds"] > 0 and 0 <= result["n_accepted"] <= result["n_drafted"]
        assert result["n_drafted"] <= draft_len * result["n_draft_rounds"]
    with pytest.raises(rtx.InvalidArgumentError, match="draft loops"):
        greedy(recursive, prompt, 4, draft_loops=2)


def test_greedy_prompt_lookup_equals_plain_decoding_and_accepts_the_quote(model):
    prompt = model.chat([{"role": "user", "content": REPEAT}])
    plain, plain_text, plain_result = greedy(model, prompt, 40)
    tokens, text, result = greedy(model, prompt, 40, lookup_ngram=3, draft_len=8)
    assert tokens == plain and text == plain_text
    assert plain_result["n_drafted"] == 0
    # The answer quotes the prompt: most drafts are accepted.
    assert result["n_accepted"] > result["n_drafted"] / 2, result
    # The context is left as plain decoding leaves it.
    with model.context(n_ctx=512) as a, model.context(n_ctx=512) as b:
        list(model.generate(prompt, max_tokens=40, temperature=0, stop_at_eos=False, context=a, batch_invariant=True))
        list(model.generate(prompt, max_tokens=40, temperature=0, stop_at_eos=False, context=b,
                            lookup_ngram=3, draft_len=8))
        assert a.n_past == b.n_past
        assert np.array_equal(a.logits(), b.logits())


def test_draft_parameters_are_reported_and_checked(model):
    g = model.generate("Hi", max_tokens=1, draft_len=5, lookup_ngram=2)
    assert g.params["draft_len"] == 5 and g.params["lookup_ngram"] == 2 and g.params["draft_loops"] == 0
    g.close()
    with pytest.raises(rtx.InvalidArgumentError, match="draft length"):
        list(model.generate("Hi", max_tokens=2, lookup_ngram=2, draft_len=0))
