# pretokenizer_configs.py — a catalogue of tokenizer.json pre_tokenizer configs:
# the real-world ones (GPT-2, RoBERTa, Llama 3, Qwen 2/3, GPT-4o o200k, DeepSeek-V3,
# Falcon, Bloom, StarCoder2) as their tokenizer.json files write them, and configs
# exercising every Split behavior, invert, String patterns, empty matches and the
# other step types. Used by test_pretokenizers.py and Tests/hardening/make_seeds.py.

GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
O200K = (r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
         r"""|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
         r"""|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
DEEPSEEK_V3 = [r"\p{N}{1,3}", "[一-龥\u3040-ゟ゠-ヿ]+",
               r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""]
BLOOM = r" ?[^(\s|[.,!?…。，、।۔،])]+"


def split(pattern, behavior="Isolated", invert=False, string=False):
    return {"type": "Split", "pattern": {"String" if string else "Regex": pattern}, "behavior": behavior, "invert": invert}


def byte_level(prefix=False, regex=True):
    return {"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": True, "use_regex": regex}


def seq(*steps):
    return {"type": "Sequence", "pretokenizers": list(steps)}


CONFIGS = {
    "gpt2": byte_level(),
    "roberta-prefix-space": byte_level(prefix=True),
    "llama3": seq(split(LLAMA3), byte_level(regex=False)),
    "qwen2": seq(split(QWEN2), byte_level(regex=False)),
    "gpt4o-o200k": seq(split(O200K), byte_level(regex=False)),
    "deepseek-v3": seq(*[split(p) for p in DEEPSEEK_V3], byte_level(regex=False)),
    "falcon": seq({"type": "Punctuation", "behavior": "Contiguous"}, byte_level(),
                  {"type": "Digits", "individual_digits": False}, split("[0-9][0-9][0-9]")),
    "bloom": seq(split(BLOOM), byte_level(regex=False)),
    "starcoder2": seq({"type": "Digits", "individual_digits": True}, byte_level()),
    "removed-invert": seq(split(r"\s+", "Removed", invert=True), byte_level(prefix=True, regex=False)),
    "removed": seq(split(r"[,.!?;:]+", "Removed"), byte_level(regex=True)),
    "merged-previous": seq(split(r"\s+", "MergedWithPrevious"), byte_level(regex=False)),
    "merged-next": seq(split(r"\p{P}", "MergedWithNext"), byte_level(regex=False)),
    "merged-previous-invert": seq(split(r"\p{L}+", "MergedWithPrevious", invert=True), byte_level(regex=False)),
    "merged-next-invert": seq(split(r"\d", "MergedWithNext", invert=True), byte_level(regex=False)),
    "contiguous": seq(split(r"[\p{Lu}\p{Lt}]", "Contiguous"), byte_level(regex=False)),
    "contiguous-invert-empty-matches": seq(split(r"\s*", "Contiguous", invert=True), byte_level(regex=False)),
    "isolated-empty-matches": seq(split(r"x*", "Isolated"), byte_level(regex=False)),
    "string-pattern": seq(split(" ", "MergedWithNext", string=True), split("'", "Isolated", string=True),
                          byte_level(regex=False)),
    "whitespace": seq({"type": "Whitespace"}, byte_level(prefix=True, regex=False)),
    "whitespace-split-punctuation": seq({"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Isolated"},
                                        byte_level(regex=False)),
    "multiline-anchors-lazy": seq(split(r"^\s+|\s+$|\w+?(?=\d)|\b\w{2,4}\b|(?:'s|'t)?\.{2,}"), byte_level(regex=False)),
    "case-insensitive-negated-classes": seq(split(r"(?i:'s|'t|'re|'ve|'m|'ll|'d|n't)|\w?\p{^L}+|[^\p{Z}\p{C}]{1,5}"),
                                            byte_level()),
}
