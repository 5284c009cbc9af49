// TokenizerTests.swift — byte-level BPE, pre-tokenizers and chat formats on tiny
// hand-built vocabularies. Agreement with HF `tokenizers` on the real SmolLM2
// vocabulary is checked in Tests/python/test_tokenizer.py.

import Testing
@testable import RTX

/// A byte-level vocabulary: control tokens 0...2 (<|endoftext|>, <|im_start|>, <|im_end|>),
/// user-defined token 3 (<tool>), then one token per byte (except `missingBytes`), then
/// `extra` tokens (merge results).
private func tinyVocabulary(merges: [String] = [], extra: [String] = [], missingBytes: Set<UInt8> = [],
                            moreSpecials: [String] = [], bos: Int32? = 1, preTokenizer: String = "smollm") -> Vocabulary {
    var tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool>"]
    var types: [TokenType] = [.control, .control, .control, .userDefined]
    for byte in 0...255 where !missingBytes.contains(UInt8(byte)) {
        tokens.append(String(ByteLevel.characterOfByte[byte]))
        types.append(.normal)
    }
    tokens += extra
    types += extra.map { _ in .normal }
    tokens += moreSpecials
    types += moreSpecials.map { _ in .control }
    return Vocabulary(model: "gpt2", preTokenizer: preTokenizer, tokens: tokens, tokenTypes: types, scores: [],
                      merges: merges, bos: bos, eos: 2, unknown: 0, padding: nil, endOfGeneration: [],
                      addBOS: false, addSpacePrefix: false)
}

private func id(_ token: String, in vocabulary: Vocabulary) -> Int32 {
    Int32(vocabulary.tokens.firstIndex(of: token)!)
}

private func ids(_ tokens: [String], in vocabulary: Vocabulary) -> [Int32] {
    tokens.map { id($0, in: vocabulary) }
}

private func formatError(_ vocabulary: Vocabulary) -> RTXError? {
    do {
        _ = try BPETokenizer(vocabulary: vocabulary)
        return nil
    } catch let error as RTXError {
        return error
    } catch {
        return nil
    }
}

// MARK: - Merging

@Test func mergesApplyInRankOrderNotTextOrder() throws {
    let abFirst = tinyVocabulary(merges: ["a b", "b c"], extra: ["ab", "bc"])
    let bcFirst = tinyVocabulary(merges: ["b c", "a b"], extra: ["ab", "bc"])
    #expect(try BPETokenizer(vocabulary: abFirst).encode("abc", addBOS: false, parseSpecial: false)
            == ids(["ab", "c"], in: abFirst))
    #expect(try BPETokenizer(vocabulary: bcFirst).encode("abc", addBOS: false, parseSpecial: false)
            == ids(["a", "bc"], in: bcFirst))
}

@Test func equalRankMergesTakeTheLeftmostPairFirst() throws {
    let vocabulary = tinyVocabulary(merges: ["a a"], extra: ["aa"])
    let tokenizer = try BPETokenizer(vocabulary: vocabulary)
    #expect(tokenizer.encode("aaa", addBOS: false, parseSpecial: false) == ids(["aa", "a"], in: vocabulary))
    #expect(tokenizer.encode("aaaa", addBOS: false, parseSpecial: false) == ids(["aa", "aa"], in: vocabulary))
}

@Test func mergedTokensMergeFurtherAndSpacesAreSpelledAsGDot() throws {
    let vocabulary = tinyVocabulary(merges: ["h e", "l l", "he ll", "hell o", "Ġ hello"],
                                    extra: ["he", "ll", "hell", "hello", "Ġhello"])
    let tokenizer = try BPETokenizer(vocabulary: vocabulary)
    #expect(tokenizer.encode("hello hello", addBOS: false, parseSpecial: false)
            == ids(["hello", "Ġhello"], in: vocabulary))
}

@Test func mergesNeverCrossWordBoundaries() throws {
    // "a b" would merge "a" and "b", but the pre-tokenizer puts them in different words.
    let vocabulary = tinyVocabulary(merges: ["a b"], extra: ["ab"], preTokenizer: "gpt2")
    let tokenizer = try BPETokenizer(vocabulary: vocabulary)
    #expect(tokenizer.encode("a!b", addBOS: false, parseSpecial: false) == ids(["a", "!", "b"], in: vocabulary))
}

// MARK: - Bytes

@Test func charactersWithoutTokensFallBackToTheirByteLevelTokens() throws {
    let vocabulary = tinyVocabulary()
    let tokenizer = try BPETokenizer(vocabulary: vocabulary)
    // "é" is C3 A9, spelled "Ã" "©" at byte level.
    let encoded = tokenizer.encode("é", addBOS: false, parseSpecial: false)
    #expect(encoded == ids(["Ã", "©"], in: vocabulary))
    #expect(tokenizer.decode(encoded) == [0xC3, 0xA9])
}

@Test func bytesWhoseCharacterIsNotATokenAreDropped() throws {
    let vocabulary = tinyVocabulary(missingBytes: [0x07])
    let tokenizer = try BPETokenizer(vocabulary: vocabulary)
    #expect(tokenizer.encode("a\u{07}b", addBOS: false, parseSpecial: false) == ids(["a", "b"], in: vocabulary))
}

@Test func decodeOfATokenEndingMidCharacterGivesTheRawBytes() throws {
    let vocabulary = tinyVocabulary()
    let tokenizer = try BPETokenizer(vocabulary: vocabulary)
    let firstHalf = ids(["Ã"], in: vocabulary)  // byte C3: a lead byte with no continuation
    #expect(tokenizer.decode(firstHalf) == [0xC3])
    #expect(tokenizer.bytes(of: id("Ċ", in: vocabulary), renderSpecial: false) == [0x0A])
    #expect(tokenizer.bytes(of: -1, renderSpecial: true) == [])
    #expect(tokenizer.bytes(of: Int32(vocabulary.tokens.count), renderSpecial: true) == [])
}

@Test func decodeRoundTripsEncodeOnMixedScriptsWhitespaceAndEmoji() throws {
    let vocabulary = tinyVocabulary(merges: ["Ġ Ġ", "ĠĠ ĠĠ"], extra: ["ĠĠ", "ĠĠĠĠ"])
    let tokenizer = try BPETokenizer(vocabulary: vocabulary)
    for text in ["", " ", "  x  ", "\n\n\t\r\n", "don't I'LL", "3.14159 1,000,000", "中文 العربية Русский हिन्दी",
                 "👨‍👩‍👧‍👦 e\u{301} \u{FFFD}", "def f(x):\n        return x\n"] {
        let encoded = tokenizer.encode(text, addBOS: false, parseSpecial: true)
        #expect(tokenizer.decode(encoded) == Array(text.utf8), "\(text.debugDescription)")
    }
}

// MARK: - Special tokens and BOS

@Test func controlTokensInTextAreParsedOnlyWithParseSpecial() throws {
    let vocabulary = tinyVocabulary()
    let tokenizer = try BPETokenizer(vocabulary: vocabulary)
    let text = "<|im_start|>hi<|im_end|>"
    #expect(tokenizer.encode(text, addBOS: false, parseSpecial: true) == [1] + ids(["h", "i"], in: vocabulary) + [2])
    let literal = tokenizer.encode(text, addBOS: false, parseSpecial: false)
    #expect(!literal.contains(1) && !literal.contains(2))
    #expect(tokenizer.decode(literal) == Array(text.utf8))
}

@Test func userDefinedTokensAreParsedEvenWithoutParseSpecial() throws {
    let vocabulary = tinyVocabulary()
    let tokenizer = try BPETokenizer(vocabulary: vocabulary)
    #expect(tokenizer.encode("x<tool>", addBOS: false, parseSpecial: false) == ids(["x"], in: vocabulary) + [3])
    #expect(tokenizer.decode([3]) == Array("<tool>".utf8))
}

@Test func overlappingSpecialTokensMatchLongestFirst() throws {
    let vocabulary = tinyVocabulary(moreSpecials: ["<|im_start|>user"])
    let tokenizer = try BPETokenizer(vocabulary: vocabulary)
    let longer = id("<|im_start|>user", in: vocabulary)
    #expect(tokenizer.encode("<|im_start|>user<|im_start|>", addBOS: false, parseSpecial: true) == [longer, 1])
}

@Test func controlTokensRenderTheirTextOnlyWithRenderSpecial() throws {
    let tokenizer = try BPETokenizer(vocabulary: tinyVocabulary())
    #expect(tokenizer.decode([1, 2], renderSpecial: false) == [])
    #expect(tokenizer.decode([1, 2], renderSpecial: true) == Array("<|im_start|><|im_end|>".utf8))
}

@Test func bosIsPrependedOnlyWhenAskedForAndTheVocabularyHasOne() throws {
    let withBOS = try BPETokenizer(vocabulary: tinyVocabulary(bos: 1))
    let withoutBOS = try BPETokenizer(vocabulary: tinyVocabulary(bos: nil))
    #expect(withBOS.encode("a", addBOS: true, parseSpecial: false).first == 1)
    #expect(withBOS.encode("", addBOS: true, parseSpecial: false) == [1])
    #expect(withBOS.encode("a", addBOS: false, parseSpecial: false).count == 1)
    #expect(withoutBOS.encode("a", addBOS: true, parseSpecial: false).count == 1)
    #expect(withBOS.encode("", addBOS: false, parseSpecial: true) == [])
}

@Test func endOfGenerationIncludesEndOfTurnControlTokens() throws {
    let tokenizer = try BPETokenizer(vocabulary: tinyVocabulary())
    #expect(tokenizer.isEndOfGeneration(0))  // <|endoftext|>
    #expect(tokenizer.isEndOfGeneration(2))  // <|im_end|>, also eos
    #expect(!tokenizer.isEndOfGeneration(1))
}

// MARK: - Constructor errors

@Test func mergeNamingAMissingTokenIsRejectedByName() {
    let error = formatError(tinyVocabulary(merges: ["a zz"]))
    #expect(error?.code == .format)
    #expect(error?.message.contains("'zz'") == true)
}

@Test func mergeWhoseResultIsNotATokenIsRejected() {
    let error = formatError(tinyVocabulary(merges: ["a b"]))
    #expect(error?.code == .format)
    #expect(error?.message.contains("'ab'") == true)
}

@Test func malformedMergeIsRejected() {
    let error = formatError(tinyVocabulary(merges: ["ab"], extra: ["ab"]))
    #expect(error?.code == .format)
    #expect(error?.message.contains("merge 0") == true)
}

@Test func bosOutsideTheVocabularyIsRejected() {
    let error = formatError(tinyVocabulary(bos: 100_000))
    #expect(error?.code == .format)
    #expect(error?.message.contains("bos") == true)
}

@Test func tokenTypeCountMismatchIsRejected() {
    var vocabulary = tinyVocabulary()
    vocabulary.tokenTypes.removeLast()
    let error = formatError(vocabulary)
    #expect(error?.code == .format)
    #expect(error?.message.contains("token types") == true)
}

@Test func scoreCountMismatchIsRejected() {
    var vocabulary = tinyVocabulary()
    vocabulary.scores = [0, 0]
    #expect(formatError(vocabulary)?.message.contains("scores") == true)
}

@Test func tokenContainingNULIsRejectedByIndex() {
    var vocabulary = tinyVocabulary()
    vocabulary.tokens.append("a\u{0}b")
    vocabulary.tokenTypes.append(.normal)
    #expect(formatError(vocabulary)?.message.contains("token \(vocabulary.tokens.count - 1)") == true)
}

// MARK: - Pre-tokenizers

private func words(_ text: String, _ name: String) -> [String] {
    let prepared = ScalarText(text)
    var ranges: [Range<Int>] = []
    (try! PreTokenizer(name: name)).split(prepared, 0..<prepared.count, into: &ranges)
    return ranges.map {
        String(decoding: prepared.bytes[prepared.byteOffsets[$0.lowerBound]..<prepared.byteOffsets[$0.upperBound]],
               as: UTF8.self)
    }
}

@Test func gpt2PatternSplitsContractionsSpacesAndPunctuation() {
    #expect(words("I'll don't  go!!\n\n  x ", "gpt2")
            == ["I", "'ll", " don", "'t", " ", " go", "!!", "\n\n ", " x", " "])
    #expect(words("I'LL 2024", "gpt2") == ["I", "'", "LL", " 2024"])
}

@Test func smollmIsolatesEveryDigitBeforeTheGPT2Pattern() {
    #expect(words("Hello  world 2024!", "smollm") == ["Hello", " ", " world", " ", "2", "0", "2", "4", "!"])
    #expect(words("3.14", "smollm") == ["3", ".", "1", "4"])
}

@Test func llama3PatternGroupsDigitsByThreeAndContractionsCaselessly() {
    #expect(words("I'LL  go\r\n\r\n 12345", "llama3") == ["I", "'LL", " ", " go", "\r\n\r\n", " ", "123", "45"])
    #expect(words("\tword ...\n", "llama3") == ["\tword", " ...\n"])
    #expect(words("I'LL  go 12345", "qwen2") == ["I", "'LL", " ", " go", " ", "1", "2", "3", "4", "5"])
}

@Test func unknownPreTokenizerTypesAreRefusedByName() {
    let e = #expect(throws: RTXError.self) { _ = try PreTokenizer(name: "qwen35") }
    #expect(e?.code == .unsupported && e?.message.contains("'qwen35'") == true)
    #expect(PreTokenizer.Pattern(regex: PreTokenizer.Pattern.qwen2.regex) == .qwen2)
    #expect(PreTokenizer.Pattern(regex: "\\p{N}+") == nil)
}

@Test func whitespaceFollowsTheUnicodeWhiteSpaceProperty() {
    // U+00A0 and U+3000 are \s; U+200B (zero width space) is not.
    // Only U+0020 is the optional space before a letter run.
    #expect(words("a\u{A0}\u{A0}b", "gpt2") == ["a", "\u{A0}", "\u{A0}", "b"])
    #expect(words("a\u{3000}b", "gpt2") == ["a", "\u{3000}", "b"])
    #expect(words("a\u{200B}b", "gpt2") == ["a", "\u{200B}", "b"])
}

// MARK: - Chat formats

private let smolLM2Template = """
{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
' }}{% endif %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %}
"""

@Test func smolLM2TemplateIsChatMLWithItsDefaultSystemPrompt() {
    let template = ChatTemplate(template: smolLM2Template, vocabulary: tinyVocabulary())
    #expect(template.format == .chatML)
    #expect(template.defaultSystem == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
    #expect(template.render([ChatMessage(role: "user", content: "hi")])
            == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            + "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
}

@Test func chatMLKeepsTheCallersSystemMessageInsteadOfTheDefault() {
    let template = ChatTemplate(format: .chatML, defaultSystem: "default")
    let messages = [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "U"),
                    ChatMessage(role: "assistant", content: "A")]
    #expect(template.render(messages, addGenerationPrompt: false)
            == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n")
}

@Test func defaultSystemPromptIsNotTakenFromAJinjaExpression() {
    let qwenLike = "{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    #expect(ChatFormat.defaultSystemPrompt(in: qwenLike) == nil)
    let escaped = "{{ '<|im_start|>system\\nBe brief.<|im_end|>\\n' }}"
    #expect(ChatFormat.defaultSystemPrompt(in: escaped) == "Be brief.")
}

@Test func gemmaFormatPrependsSystemToTheFirstUserTurnAndCallsTheAssistantModel() {
    let format = ChatFormat.detect(template: "{{ bos_token }}<start_of_turn>", vocabulary: tinyVocabulary())
    #expect(format == .gemma)
    let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi"),
                    ChatMessage(role: "assistant", content: "Hello"), ChatMessage(role: "user", content: "Bye")]
    #expect(format.render(messages, addGenerationPrompt: true, defaultSystem: nil)
            == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
            + "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n")
}

@Test func formatIsDetectedFromTheVocabularyWhenThereIsNoTemplate() {
    #expect(ChatFormat.detect(template: nil, vocabulary: tinyVocabulary()) == .chatML)
    var plain = tinyVocabulary()
    plain.tokens[1] = "<s>"; plain.tokens[2] = "</s>"
    #expect(ChatFormat.detect(template: nil, vocabulary: plain) == .plain)
}

// MARK: - Regex-driven pre-tokenizer

private func regexPieces(_ text: String, _ regexes: [String]) throws -> [String] {
    let prepared = ScalarText(text)
    var ranges: [Range<Int>] = []
    try PreTokenizer(pattern: .regexes(regexes), isolateDigits: false, ignoreMerges: false)
        .split(prepared, 0..<prepared.count, into: &ranges)
    return ranges.map {
        String(decoding: prepared.bytes[prepared.byteOffsets[$0.lowerBound]..<prepared.byteOffsets[$0.upperBound]], as: UTF8.self)
    }
}

@Test func regexSplitsKeepMatchesAndTheTextBetweenThem() throws {
    // Each regex splits every piece of the one before; unmatched text stays a piece.
    #expect(try regexPieces("ab  12345 c!\n", [#"[\r\n]"#, #"\s?\p{L}+"#, #"\p{N}{1,3}"#])
            == ["ab", "  ", "123", "45", " c", "!", "\n"])
    #expect(try regexPieces("a \t x", [#"\s+(?!\S)|\s+"#]) == ["a", " \t", " ", "x"])
    #expect(try regexPieces("x   ", [#"\s+$"#]) == ["x", "   "])
    #expect(try regexPieces("don't", [#"'s|'t| ?\p{L}+"#]) == ["don", "'t"])
}

@Test func regexRunsInTimeLinearInLongRunsAndRefusesWhatItCannotRun() throws {
    let long = String(repeating: " ", count: 200_000) + "x" + String(repeating: "y", count: 200_000)
    let pieces = try regexPieces(long, [#"\s+$"#, #"\s?\p{L}+"#])
    #expect(pieces.joined() == long)
    for bad in ["(a", "a)", "[a-", "[z-a]", #"\p{Han}"#, "a++", "a*+", "(?<=a)b", "(?<!a)b", "(?>a)", "(?<n>a)", #"(a)\1"#,
                #"\q"#, #"\h"#, "(?i:[a-z])", #"(?i:\p{L})"#, "(?i:ss)", "(?i:Fi)", "(?i:é)", "[[:alpha:]]", "[a&&b]",
                "a{1001}", "(?:a|b){300}", "(?=a+)", "x**", "*a", "{2}", "a{2,1}", "(?x)a", "$+"] {
        let e = #expect(throws: RTXError.self, "\(bad)") { _ = try SplitRegex(bad, dialect: .oniguruma) }
        #expect(e?.code == .unsupported && e?.message.contains(bad.debugDescription) == true, "\(bad)")
    }
}

/// Hugging Face's view of a regex on `text`: the matches, as Oniguruma's find iterator gives them.
private func matches(_ text: String, _ regex: String) throws -> [String] {
    let prepared = ScalarText(text)
    var ranges: [Range<Int>] = []
    try SplitRegex(regex, dialect: .oniguruma).matches(prepared, 0..<prepared.count, into: &ranges)
    return ranges.map {
        String(decoding: prepared.bytes[prepared.byteOffsets[$0.lowerBound]..<prepared.byteOffsets[$0.upperBound]], as: UTF8.self)
    }
}

@Test func regexSyntaxCoversWhatTokenizerJSONFilesUse() throws {
    // Quantified groups, (?i:…) with the scalars that fold to ASCII letters (ſ → s, K → k).
    #expect(try matches("dog's CAT'S x'ſ x'K", #"\p{L}+(?i:'s|'k)?"#) == ["dog's", "CAT'S", "x'ſ", "x'K"])
    // General categories, their negation, \d \w, nested classes (Bloom), \x{…}.
    #expect(try matches("HTTPServer ǅx ʰ", #"[\p{Lu}\p{Lt}]+[\p{Ll}\p{Lm}]*"#) == ["HTTPServer", "ǅx"])
    // Oniguruma's \w takes ² outside a class (its Latin-1 table), not inside one.
    #expect(try matches("a1²٣_b ²", #"\d+|\w+"#) == ["a1²٣_b", "²"])
    #expect(try matches("a1²", #"[\w]+"#) == ["a1"])
    #expect(try matches("ab+-", #"\p{^L}+"#) == ["+-"])
    #expect(try matches("hi, you!", #" ?[^(\s|[.,!?])]+"#) == ["hi", " you"])
    #expect(try matches("a\u{3000}b", #"\x{3000}|\u3000"#) == ["\u{3000}"])
    // Oniguruma's `$` and `^` are line anchors, `.` stops at "\n"; \z ends the text.
    #expect(try matches("ab  \ncd  \n", #"\s+$"#) == ["  ", "  \n"])
    #expect(try matches("x\nx", "^x") == ["x", "x"])
    #expect(try matches("a\nb axb", "a.b") == ["axb"])
    #expect(try matches("ab \nc ", #"\s+\z"#) == [" "])
    // Lazy quantifiers, counted repetition, lookahead, word boundaries.
    #expect(try matches("aaa1", #"\w+?(?=\d)"#) == ["aaa"])
    #expect(try matches("abcdefg", "[a-g]{2,3}") == ["abc", "def"])
    #expect(try matches("ab abcdef a", #"\b\w{2,4}\b"#) == ["ab"])
    // Empty matches: one at each position not right after a match (Oniguruma's find iterator).
    #expect(try matches("ab  c", #"\s*"#) == ["", "", "  ", ""])
    // llama.cpp's dialect keeps `$` as the end of the piece.
    var pieces: [Range<Int>] = []
    let text = ScalarText("ab  \ncd  ")
    try SplitRegex(#"\s+$"#).split(text, 0..<text.count, into: &pieces)
    #expect(pieces == [0..<7, 7..<9])
}

@Test func hostileRegexesFinishInLinearTime() throws {
    // Nested and adjacent quantifiers over long runs that never match: a plain
    // backtracking engine takes exponential or high-polynomial time on these.
    let run = String(repeating: "a", count: 20_000) + "!"
    for hostile in ["(a*)*b", "(a|a)*b", "(?:a+)+$b", #"\s*\s*\s*\s*x|a*a*a*a*b"#, "(a|aa)+c", "(?:a?){30}a{30}b"] {
        #expect(try matches(run, hostile) == [], "\(hostile)")
    }
    #expect(try matches(run, "(a|aa)+!") == [run])
    let spaces = String(repeating: " \t", count: 50_000) + "x"
    #expect(try matches(spaces, #"(\s+)+(?!\S)|\s+"#).joined() == String(spaces.dropLast()))
}

@Test func tokenizerJSONPipelinesSplitAsHuggingFaceDoes() throws {
    func words(_ pre: String, _ text: String) throws -> [String] {
        let json = try JSON.parse(#"{"pre_tokenizer": "# + pre + "}", source: "tokenizer.json")
        let pipeline = try PreTokenizerPipeline(json: json["pre_tokenizer"], source: "tokenizer.json")
        var bytes: [UInt8] = [], ranges: [Range<Int>] = []
        let prepared = ScalarText(text)
        pipeline.words(prepared, 0..<prepared.count, bytes: &bytes, words: &ranges)
        return ranges.map { String(decoding: bytes[$0], as: UTF8.self) }
    }
    func split(_ regex: String, _ behavior: String, invert: Bool = false) -> String {
        #"{"type": "Split", "pattern": {"Regex": "\#(regex)"}, "behavior": "\#(behavior)", "invert": \#(invert)}"#
    }
    #expect(try words(split("-", "Isolated"), "a-b--c") == ["a", "-", "b", "-", "-", "c"])
    #expect(try words(split("-", "Removed"), "a-b--c") == ["a", "b", "c"])
    #expect(try words(split("-", "MergedWithPrevious"), "a-b--c") == ["a-", "b-", "-", "c"])
    #expect(try words(split("-", "MergedWithNext"), "a-b--c") == ["a", "-b", "-", "-c"])
    #expect(try words(split("-", "Contiguous"), "a-b--c") == ["a", "-", "b", "--", "c"])
    #expect(try words(split("-", "Removed", invert: true), "a-b--c") == ["-", "-", "-"])
    // ByteLevel puts its space before every piece, then splits by GPT-2's regex; the steps after it see byte characters.
    #expect(try words(#"{"type": "Sequence", "pretokenizers": [\#(split("-", "Removed")), {"type": "ByteLevel", "add_prefix_space": true}]}"#,
                      "ab-cd- e") == [" ab", " cd", " e"])
    #expect(try words(#"{"type": "Sequence", "pretokenizers": [{"type": "ByteLevel", "add_prefix_space": false}, {"type": "Digits", "individual_digits": false}, \#(split("[0-9][0-9][0-9]", "Isolated"))]}"#,
                      "x 12345") == ["x", " ", "123", "45"])
    #expect(try words(#"{"type": "Sequence", "pretokenizers": [{"type": "Punctuation"}, {"type": "WhitespaceSplit"}]}"#,
                      "a, b!?") == ["a", ",", "b", "!", "?"])
    #expect(try words(#"{"type": "Whitespace"}"#, "a1 b_c,, d") == ["a1", "b_c", ",,", "d"])
    let e = #expect(throws: RTXError.self) { _ = try words(#"{"type": "Sequence", "pretokenizers": [{"type": "Metaspace"}]}"#, "x") }
    #expect(e?.code == .unsupported && e?.message.contains("tokenizer.json") == true && e?.message.contains("'Metaspace'") == true)
}
