// BPETokenizer.swift — GPT-2 byte-level BPE (tokenizer.ggml.model = "gpt2"), the
// way llama.cpp and HF tokenizers do it: special tokens are cut out of the raw text,
// the rest is pre-tokenized into words, each word's bytes become byte-level
// characters and are merged by rank.

public struct BPETokenizer: Tokenizer {
    public let vocabulary: Vocabulary
    let preTokenizer: PreTokenizer
    /// (left id << 32 | right id) → (rank << 32 | merged id). Ranks follow merge order.
    let merges: [UInt64: UInt64]
    /// Token of each byte's byte-level character, or -1 when the vocabulary lacks it.
    let byteTokens: [Int32]
    /// Output bytes of every token, flat: token t is pieceBytes[pieceOffsets[t]..<pieceOffsets[t + 1]].
    /// Byte-level tokens are stored decoded; control and user-defined ones as their text.
    let pieceBytes: [UInt8]
    let pieceOffsets: [Int]
    let specials: SpecialTokenMatcher
    /// Raw bytes → token, for `ignoreMerges` pre-tokenizers only (empty otherwise).
    let wholeWordTokens: [[UInt8]: Int32]

    public init(vocabulary: Vocabulary) throws {
        try vocabulary.validateShape()
        let tokens = vocabulary.tokens
        let count = tokens.count

        var ids: [String: Int32] = [:]
        ids.reserveCapacity(count)
        for (i, token) in tokens.enumerated() {
            if token.utf8.contains(0) {
                throw RTXError.format("tokenizer: token \(i) contains a NUL byte")
            }
            if ids[token] == nil { ids[token] = Int32(i) }
        }

        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(vocabulary.merges.count)
        for (rank, merge) in vocabulary.merges.enumerated() {
            // "left right"; the separator is the first space after the first character
            // (llama.cpp), so a left part that is itself " " still parses.
            let utf8 = Array(merge.utf8)
            guard utf8.count >= 3, let cut = utf8[1...].firstIndex(of: 0x20), cut + 1 < utf8.count else {
                throw RTXError.format("tokenizer: merge \(rank) '\(merge)' is not 'left right'")
            }
            let left = String(decoding: utf8[..<cut], as: UTF8.self)
            let right = String(decoding: utf8[(cut + 1)...], as: UTF8.self)
            guard let l = ids[left] else {
                throw RTXError.format("tokenizer: merge \(rank) '\(merge)' names '\(left)', which is not a token")
            }
            guard let r = ids[right] else {
                throw RTXError.format("tokenizer: merge \(rank) '\(merge)' names '\(right)', which is not a token")
            }
            guard let merged = ids[left + right] else {
                throw RTXError.format("tokenizer: merge \(rank) '\(merge)' makes '\(left + right)', which is not a token")
            }
            let key = BPETokenizer.pairKey(l, r)
            if merges[key] == nil { merges[key] = UInt64(rank) << 32 | UInt64(merged) }
        }
        self.merges = merges

        byteTokens = ByteLevel.characterOfByte.map { ids[String($0)] ?? -1 }

        var pieceBytes: [UInt8] = []
        var pieceOffsets: [Int] = [0]
        pieceOffsets.reserveCapacity(count + 1)
        for (token, type) in zip(tokens, vocabulary.tokenTypes) {
            switch type {
            case .control, .userDefined, .unknown: pieceBytes += token.utf8
            default: pieceBytes += ByteLevel.decode(token)
            }
            pieceOffsets.append(pieceBytes.count)
        }
        self.pieceBytes = pieceBytes
        self.pieceOffsets = pieceOffsets

        specials = SpecialTokenMatcher(tokens: tokens, types: vocabulary.tokenTypes)
        if let pipeline = vocabulary.preTokenizerPipeline {
            preTokenizer = PreTokenizer(pipeline: pipeline, ignoreMerges: vocabulary.ignoreMerges)
        } else {
            preTokenizer = try PreTokenizer(name: vocabulary.preTokenizer)
        }

        var wholeWords: [[UInt8]: Int32] = [:]
        if preTokenizer.ignoreMerges {
            for (i, type) in vocabulary.tokenTypes.enumerated() where type == .normal {
                let bytes = Array(pieceBytes[pieceOffsets[i]..<pieceOffsets[i + 1]])
                if wholeWords[bytes] == nil { wholeWords[bytes] = Int32(i) }
            }
        }
        wholeWordTokens = wholeWords

        var vocabulary = vocabulary
        for id in vocabulary.endOfTurnTokens() where !vocabulary.endOfGeneration.contains(id) {
            vocabulary.endOfGeneration.append(id)
        }
        self.vocabulary = vocabulary
    }

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    // MARK: Encoding

    public func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) -> [Int32] {
        var ids: [Int32] = []
        if addBOS, let bos = vocabulary.bos { ids.append(bos) }
        if text.isEmpty { return ids }
        let prepared = ScalarText(text)
        ids.reserveCapacity(ids.count + prepared.bytes.count / 3)
        var words: [Range<Int>] = []
        var work = MergeWork()

        // Special tokens first: the text between them is pre-tokenized and merged.
        var fragmentStart = 0
        var i = 0
        while i < prepared.count {
            guard let (special, length) = specials.match(prepared.scalars, at: i, parseSpecial: parseSpecial) else {
                i += 1
                continue
            }
            encodeFragment(prepared, fragmentStart..<i, into: &ids, words: &words, work: &work)
            ids.append(special)
            i += length
            fragmentStart = i
        }
        encodeFragment(prepared, fragmentStart..<prepared.count, into: &ids, words: &words, work: &work)
        return ids
    }

    private func encodeFragment(_ text: ScalarText, _ range: Range<Int>, into ids: inout [Int32],
                                words: inout [Range<Int>], work: inout MergeWork, normalized: Bool = false) {
        guard !range.isEmpty else { return }
        if !normalized, vocabulary.normalization == .nfc, let composed = text.nfc(range) {
            return encodeFragment(composed, 0..<composed.count, into: &ids, words: &words, work: &work, normalized: true)
        }
        words.removeAll(keepingCapacity: true)
        if let pipeline = preTokenizer.pipeline {
            var bytes: [UInt8] = []
            pipeline.words(text, range, bytes: &bytes, words: &words)
            for word in words { mergeWordOrWhole(bytes[word], into: &ids, work: &work) }
            return
        }
        preTokenizer.split(text, range, into: &words)
        for word in words {
            mergeWordOrWhole(text.bytes[text.byteOffsets[word.lowerBound]..<text.byteOffsets[word.upperBound]],
                             into: &ids, work: &work)
        }
    }

    /// The word as one token when `ignoreMerges` and it is one, else merged.
    private func mergeWordOrWhole(_ bytes: ArraySlice<UInt8>, into ids: inout [Int32], work: inout MergeWork) {
        if preTokenizer.ignoreMerges, let whole = wholeWordTokens[Array(bytes)] {
            ids.append(whole)
        } else {
            mergeWord(bytes, into: &ids, work: &work)
        }
    }

    /// BPE within one word: start from one symbol per byte, then repeatedly merge the
    /// adjacent pair of lowest rank (leftmost on ties), as HF's `Word::merge_all`.
    private func mergeWord(_ bytes: ArraySlice<UInt8>, into ids: inout [Int32], work: inout MergeWork) {
        work.reset()
        for byte in bytes {
            // A byte whose character is not a token is dropped, as llama.cpp does (and HF
            // without an unk_token): SmolLM2's vocabulary lacks a few C0 control bytes.
            let token = byteTokens[Int(byte)]
            if token >= 0 { work.symbols.append(token) }
        }
        let n = work.symbols.count
        if n <= 1 {
            ids += work.symbols
            return
        }
        for k in 0..<n {
            work.previous.append(Int32(k - 1))
            work.next.append(Int32(k + 1))
        }
        for k in 0..<(n - 1) {
            if let merge = merges[BPETokenizer.pairKey(work.symbols[k], work.symbols[k + 1])] {
                work.queue.push(merge & 0xFFFF_FFFF_0000_0000 | UInt64(k))
            }
        }
        while let top = work.queue.pop() {
            let rank = top >> 32
            let left = Int(top & 0xFFFF_FFFF)
            let right = Int(work.next[left])
            // Entries go stale when either symbol has merged since; the pair's rank tells.
            guard work.symbols[left] >= 0, right < n,
                  let merge = merges[BPETokenizer.pairKey(work.symbols[left], work.symbols[right])],
                  merge >> 32 == rank else { continue }
            work.symbols[left] = Int32(truncatingIfNeeded: merge & 0xFFFF_FFFF)
            work.symbols[right] = -1
            let after = Int(work.next[right])
            work.next[left] = Int32(after)
            if after < n { work.previous[after] = Int32(left) }
            let before = Int(work.previous[left])
            if before >= 0, let m = merges[BPETokenizer.pairKey(work.symbols[before], work.symbols[left])] {
                work.queue.push(m & 0xFFFF_FFFF_0000_0000 | UInt64(before))
            }
            if after < n, let m = merges[BPETokenizer.pairKey(work.symbols[left], work.symbols[after])] {
                work.queue.push(m & 0xFFFF_FFFF_0000_0000 | UInt64(left))
            }
        }
        var k = 0
        while k < n {
            ids.append(work.symbols[k])
            k = Int(work.next[k])
        }
    }

    // MARK: Decoding

    public func bytes(of token: Int32, renderSpecial: Bool) -> [UInt8] {
        guard token >= 0, Int(token) < pieceOffsets.count - 1 else { return [] }
        let t = Int(token)
        switch vocabulary.tokenTypes[t] {
        case .control, .unknown: if !renderSpecial { return [] }
        default: break
        }
        return Array(pieceBytes[pieceOffsets[t]..<pieceOffsets[t + 1]])
    }
}

/// Scratch buffers of one `encode` call, reused from word to word.
private struct MergeWork {
    /// Token of each symbol; -1 once merged into its left neighbour.
    var symbols: [Int32] = []
    var previous: [Int32] = []
    var next: [Int32] = []
    /// Candidate merges, rank << 32 | left symbol position.
    var queue = MinHeap<UInt64>()

    mutating func reset() {
        symbols.removeAll(keepingCapacity: true)
        previous.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        queue.items.removeAll(keepingCapacity: true)
    }
}

/// Finds control and user-defined token texts in raw text, leftmost-longest (HF's
/// added-vocabulary matcher). User-defined tokens are matched even without
/// `parseSpecial`, as in llama.cpp and HF; control and unknown tokens only with it.
struct SpecialTokenMatcher: Sendable {
    struct Candidate: Sendable {
        var scalars: [UInt32]
        var id: Int32
        var needsParseSpecial: Bool
    }
    /// Candidates by (first scalar & 0xFF), longest first.
    private let buckets: [[Candidate]]

    init(tokens: [String], types: [TokenType]) {
        var buckets = [[Candidate]](repeating: [], count: 256)
        for (i, (token, type)) in zip(tokens, types).enumerated() {
            guard type == .control || type == .userDefined || type == .unknown, !token.isEmpty else { continue }
            let scalars = token.unicodeScalars.map(\.value)
            buckets[Int(scalars[0] & 0xFF)].append(
                Candidate(scalars: scalars, id: Int32(i), needsParseSpecial: type != .userDefined))
        }
        for b in buckets.indices { buckets[b].sort { $0.scalars.count > $1.scalars.count } }
        self.buckets = buckets
    }

    /// The special token whose text starts at `text[i]` and its length in scalars.
    @inline(__always)
    func match(_ text: [UInt32], at i: Int, parseSpecial: Bool) -> (Int32, Int)? {
        let bucket = buckets[Int(text[i] & 0xFF)]
        if bucket.isEmpty { return nil }
        for candidate in bucket where parseSpecial || !candidate.needsParseSpecial {
            let length = candidate.scalars.count
            guard i + length <= text.count else { continue }
            var k = 0
            while k < length && text[i + k] == candidate.scalars[k] { k += 1 }
            if k == length { return (candidate.id, length) }
        }
        return nil
    }
}
