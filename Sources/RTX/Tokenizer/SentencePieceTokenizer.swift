// SentencePieceTokenizer.swift — SentencePiece BPE (tokenizer.ggml.model = "llama":
// Llama 1/2, Gemma), the way llama.cpp's llm_tokenizer_spm does it: special tokens are
// cut out of the raw text (longest first), each remaining fragment gets spaces
// escaped as "▁" (and a leading one with add_space_prefix), starts as one symbol per
// character, and the adjacent pair whose concatenation is the highest-scoring token
// is merged until none is left; characters that never became a token fall back to
// <0xXX> byte tokens.

public struct SentencePieceTokenizer: Tokenizer {
    public let vocabulary: Vocabulary
    /// Token text → id (the last id wins for a repeated text, as in llama.cpp).
    let textTable: ByteStringTable
    /// Score of every token (all 0 when the vocabulary has none).
    let scores: [Float]
    /// Token of each byte's fallback ("<0xXX>", else the one-byte text), or -1.
    let byteTokens: [Int32]
    /// Output bytes of every token, flat: token t is pieceBytes[pieceOffsets[t]..<pieceOffsets[t + 1]].
    /// Normal tokens are stored with "▁" turned back into spaces, byte tokens as their byte.
    let pieceBytes: [UInt8]
    let pieceOffsets: [Int]
    let specials: SpecialTokenPartitioner

    /// UTF-8 of "▁" (U+2581), SentencePiece's visible space.
    static let visibleSpace: [UInt8] = [0xE2, 0x96, 0x81]

    public init(vocabulary: Vocabulary) throws {
        try vocabulary.validateShape()
        let tokens = vocabulary.tokens
        let count = tokens.count
        if let bad = vocabulary.scores.firstIndex(where: { $0.isNaN }) {
            throw RTXError.format("tokenizer: token \(bad) has a NaN score")
        }

        var byteTokens = [Int32](repeating: -1, count: 256)
        var pieceBytes: [UInt8] = []
        var pieceOffsets: [Int] = [0]
        pieceOffsets.reserveCapacity(count + 1)
        for (i, (token, type)) in zip(tokens, vocabulary.tokenTypes).enumerated() {
            let utf8 = Array(token.utf8)
            if utf8.contains(0) {
                throw RTXError.format("tokenizer: token \(i) contains a NUL byte")
            }
            switch type {
            case .byte:
                guard let byte = SentencePieceTokenizer.byteValue(utf8) else {
                    throw RTXError.format("tokenizer: byte token \(i) '\(token)' is not of the form <0xXX>")
                }
                byteTokens[Int(byte)] = Int32(i)
                pieceBytes.append(byte)
            case .normal:
                pieceBytes += SentencePieceTokenizer.unescapeSpaces(utf8)
            default:
                pieceBytes += utf8
            }
            pieceOffsets.append(pieceBytes.count)
        }
        let textTable = ByteStringTable(tokens)
        // llama.cpp looks a byte up as "<0xXX>" text first, then as the one-byte text.
        for byte in 0..<256 {
            let hex = Array("0123456789ABCDEF".utf8)
            let name: [UInt8] = [0x3C, 0x30, 0x78, hex[byte >> 4], hex[byte & 15], 0x3E]
            let byName = name.withUnsafeBufferPointer { textTable.lookup($0[...]) }
            if byName >= 0 {
                byteTokens[byte] = byName
            } else if byte < 0x80 {
                let plain = [UInt8(byte)].withUnsafeBufferPointer { textTable.lookup($0[...]) }
                if plain >= 0 { byteTokens[byte] = plain }
            }
        }
        self.textTable = textTable
        self.byteTokens = byteTokens
        self.scores = vocabulary.scores.isEmpty ? [Float](repeating: 0, count: count) : vocabulary.scores
        self.pieceBytes = pieceBytes
        self.pieceOffsets = pieceOffsets
        self.specials = SpecialTokenPartitioner(tokens: tokens, types: vocabulary.tokenTypes)

        var vocabulary = vocabulary
        for id in vocabulary.endOfTurnTokens() where !vocabulary.endOfGeneration.contains(id) {
            vocabulary.endOfGeneration.append(id)
        }
        self.vocabulary = vocabulary
    }

    /// The byte of a "<0xXX>" token text (hex digits in either case), or nil.
    static func byteValue(_ utf8: [UInt8]) -> UInt8? {
        guard utf8.count == 6, utf8[0] == 0x3C, utf8[1] == 0x30, utf8[2] == 0x78, utf8[5] == 0x3E else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        guard let high = hex(utf8[3]), let low = hex(utf8[4]) else { return nil }
        return high << 4 | low
    }

    /// "▁" → " " in a token's UTF-8.
    static func unescapeSpaces(_ utf8: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var i = 0
        while i < utf8.count {
            if i + 2 < utf8.count, utf8[i] == 0xE2, utf8[i + 1] == 0x96, utf8[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(utf8[i])
                i += 1
            }
        }
        return out
    }

    // MARK: Encoding

    public func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) -> [Int32] {
        var ids: [Int32] = []
        if addBOS, let bos = vocabulary.bos { ids.append(bos) }
        let bytes = Array(text.utf8)
        if bytes.isEmpty { return ids }
        ids.reserveCapacity(ids.count + bytes.count / 3)
        var work = SymbolWork()
        var previousWasSpecial = true  // a leading space prefix goes on the first fragment
        for fragment in specials.partition(bytes, parseSpecial: parseSpecial) {
            switch fragment {
            case .special(let id):
                ids.append(id)
                previousWasSpecial = true
            case .text(let range):
                var escaped: [UInt8] = []
                escaped.reserveCapacity(range.count + 8)
                if vocabulary.addSpacePrefix && previousWasSpecial { escaped += SentencePieceTokenizer.visibleSpace }
                for byte in bytes[range] {
                    if byte == 0x20 { escaped += SentencePieceTokenizer.visibleSpace } else { escaped.append(byte) }
                }
                mergeFragment(escaped, into: &ids, work: &work)
                previousWasSpecial = false
            }
        }
        return ids
    }

    /// Merging within one fragment (escaped UTF-8): one symbol per character, then the
    /// adjacent pair forming the highest-scoring token is merged (leftmost on ties),
    /// as llm_tokenizer_spm_session::tokenize.
    private func mergeFragment(_ text: [UInt8], into ids: inout [Int32], work: inout SymbolWork) {
        work.reset()
        var offset = 0
        while offset < text.count {
            let length = min(SentencePieceTokenizer.utf8Length(text[offset]), text.count - offset)
            work.start.append(Int32(offset))
            work.length.append(Int32(length))
            offset += length
        }
        let n = work.start.count
        for k in 0..<n {
            work.previous.append(Int32(k - 1))
            work.next.append(Int32(k + 1))
        }
        text.withUnsafeBufferPointer { buffer in
            func tryBigram(_ left: Int, _ right: Int) {
                guard left >= 0, right < n else { return }
                let start = Int(work.start[left])
                let size = Int(work.length[left] + work.length[right])
                let token = textTable.lookup(buffer[start..<(start + size)])
                guard token >= 0 else { return }
                work.queue.push(Bigram(score: scores[Int(token)], left: Int32(left), right: Int32(right), size: Int32(size)))
            }
            for k in 1..<max(n, 1) { tryBigram(k - 1, k) }
            while let bigram = work.queue.pop() {
                let left = Int(bigram.left), right = Int(bigram.right)
                // Entries go stale when either symbol has merged since; the size tells.
                guard work.length[left] > 0, work.length[right] > 0,
                      work.length[left] + work.length[right] == bigram.size else { continue }
                work.length[left] += work.length[right]
                work.length[right] = 0
                let after = Int(work.next[right])
                work.next[left] = Int32(after)
                if after < n { work.previous[after] = Int32(left) }
                tryBigram(Int(work.previous[left]), left)
                tryBigram(left, after)
            }
            var k = 0
            while k < n {
                let start = Int(work.start[k])
                let piece = buffer[start..<(start + Int(work.length[k]))]
                let token = textTable.lookup(piece)
                if token >= 0 {
                    ids.append(token)
                } else {
                    // Byte fallback; a byte without a token becomes the unknown token
                    // (llama.cpp would abort), or is dropped when there is none.
                    for byte in piece {
                        let fallback = byteTokens[Int(byte)]
                        if fallback >= 0 { ids.append(fallback) } else if let unknown = vocabulary.unknown { ids.append(unknown) }
                    }
                }
                k = Int(work.next[k])
            }
        }
    }

    @inline(__always)
    static func utf8Length(_ lead: UInt8) -> Int {
        // llama.cpp's unicode_len_utf8: by the high nibble of the lead byte.
        switch lead >> 4 {
        case 0xC, 0xD: return 2
        case 0xE: return 3
        case 0xF: return 4
        default: return 1
        }
    }

    // MARK: Decoding

    public func bytes(of token: Int32, renderSpecial: Bool) -> [UInt8] {
        guard token >= 0, Int(token) < pieceOffsets.count - 1 else { return [] }
        let t = Int(token)
        switch vocabulary.tokenTypes[t] {
        case .control, .unknown: if !renderSpecial { return [] }
        case .undefined, .unused: return []
        default: break
        }
        return Array(pieceBytes[pieceOffsets[t]..<pieceOffsets[t + 1]])
    }
}

/// One candidate merge: symbols `left` and `right` (adjacent when pushed) whose
/// concatenation, `size` bytes long, is a token of this score.
private struct Bigram: Comparable {
    var score: Float
    var left: Int32
    var right: Int32
    var size: Int32

    /// Pops first: the higher score, then the lower left position.
    @inline(__always)
    func before(_ other: Bigram) -> Bool {
        score > other.score || (score == other.score && left < other.left)
    }

    static func < (a: Bigram, b: Bigram) -> Bool { a.before(b) }
}

/// Scratch buffers of one `encode` call, reused from fragment to fragment.
private struct SymbolWork {
    /// Byte offset and length of each symbol; length 0 once merged into its left neighbour.
    var start: [Int32] = []
    var length: [Int32] = []
    var previous: [Int32] = []
    var next: [Int32] = []
    var queue = MinHeap<Bigram>()

    mutating func reset() {
        start.removeAll(keepingCapacity: true)
        length.removeAll(keepingCapacity: true)
        previous.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        queue.items.removeAll(keepingCapacity: true)
    }
}

/// Token texts → ids without allocating per lookup: open addressing (FNV-1a) over the
/// texts' UTF-8 kept in one flat buffer.
struct ByteStringTable: Sendable {
    private let bytes: [UInt8]
    private let offsets: [Int]
    /// id + 1 in each slot (0 = empty); count is a power of two ≥ 2 × tokens.
    private let slots: [Int32]

    init(_ tokens: [String]) {
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        offsets.reserveCapacity(tokens.count + 1)
        for token in tokens {
            bytes += token.utf8
            offsets.append(bytes.count)
        }
        var capacity = 16
        while capacity < 2 * tokens.count { capacity <<= 1 }
        var slots = [Int32](repeating: 0, count: capacity)
        let mask = capacity - 1
        bytes.withUnsafeBufferPointer { all in
            for id in tokens.indices {
                let text = all[offsets[id]..<offsets[id + 1]]
                var slot = Int(ByteStringTable.hash(text) & UInt64(mask))
                while slots[slot] != 0 {
                    let other = Int(slots[slot]) - 1
                    if all[offsets[other]..<offsets[other + 1]].elementsEqual(text) { break }
                    slot = (slot + 1) & mask
                }
                slots[slot] = Int32(id + 1)  // a repeated text: the later id replaces the earlier
            }
        }
        self.bytes = bytes
        self.offsets = offsets
        self.slots = slots
    }

    @inline(__always)
    static func hash(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h
    }

    /// The id whose text is exactly `text`, or -1.
    func lookup(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> Int32 {
        let mask = slots.count - 1
        var slot = Int(ByteStringTable.hash(text) & UInt64(mask))
        while slots[slot] != 0 {
            let id = Int(slots[slot]) - 1
            let start = offsets[id], end = offsets[id + 1]
            if end - start == text.count && bytes[start..<end].elementsEqual(text) { return Int32(id) }
            slot = (slot + 1) & mask
        }
        return -1
    }
}

/// Cuts control, unknown and user-defined token texts out of raw UTF-8 the way
/// llama.cpp's tokenizer_st_partition does: the specials are taken longest first
/// (then by id), each splitting the still-raw text at its leftmost non-overlapping
/// occurrences. User-defined tokens are always cut; control and unknown ones only
/// with parseSpecial.
struct SpecialTokenPartitioner: Sendable {
    enum Fragment: Equatable {
        case text(Range<Int>)
        case special(Int32)
    }

    /// Special token texts in byte order (for prefix search), with ids and flags.
    private let texts: [[UInt8]]
    private let ids: [Int32]
    private let needsParseSpecial: [Bool]
    /// Priority of each entry of `texts`: 0 is taken first (longest, then lowest id).
    private let priority: [Int32]
    private let entryOfPriority: [Int]

    init(tokens: [String], types: [TokenType]) {
        var entries: [(text: [UInt8], id: Int32, needsParseSpecial: Bool)] = []
        for (i, (token, type)) in zip(tokens, types).enumerated() {
            guard type == .control || type == .userDefined || type == .unknown, !token.isEmpty else { continue }
            entries.append((Array(token.utf8), Int32(i), type != .userDefined))
        }
        let byPriority = entries.indices.sorted {
            entries[$0].text.count != entries[$1].text.count
                ? entries[$0].text.count > entries[$1].text.count : entries[$0].id < entries[$1].id
        }
        var rank = [Int32](repeating: 0, count: entries.count)
        for (r, e) in byPriority.enumerated() { rank[e] = Int32(r) }
        let byText = entries.indices.sorted {
            entries[$0].text.lexicographicallyPrecedes(entries[$1].text)
                || (entries[$0].text == entries[$1].text && entries[$0].id < entries[$1].id)
        }
        texts = byText.map { entries[$0].text }
        ids = byText.map { entries[$0].id }
        needsParseSpecial = byText.map { entries[$0].needsParseSpecial }
        priority = byText.map { rank[$0] }
        var entryOfPriority = [Int](repeating: 0, count: entries.count)
        for (position, e) in byText.enumerated() { entryOfPriority[Int(rank[e])] = position }
        self.entryOfPriority = entryOfPriority
    }

    /// `text` as raw-text ranges and special tokens, in order.
    func partition(_ text: [UInt8], parseSpecial: Bool) -> [Fragment] {
        guard !texts.isEmpty, text.count <= Int(UInt32.max) else { return [.text(0..<text.count)] }
        // Every occurrence of every eligible special, as priority << 32 | start (a long
        // whitespace run has one per run length at each position: keep them small).
        var occurrences: [UInt64] = []
        for start in text.indices {
            forEachMatch(text, at: start) { entry in
                if parseSpecial || !needsParseSpecial[entry] {
                    occurrences.append(UInt64(priority[entry]) << 32 | UInt64(start))
                }
            }
        }
        if occurrences.isEmpty { return [.text(0..<text.count)] }
        occurrences.sort()
        // Taking them in that order, an occurrence that touches no claimed byte is cut:
        // exactly the leftmost non-overlapping matches inside the still-raw fragments.
        var claimed = [Bool](repeating: false, count: text.count)
        var cuts: [(start: Int, entry: Int)] = []
        for occurrence in occurrences {
            let entry = entryOfPriority[Int(occurrence >> 32)]
            let start = Int(occurrence & 0xFFFF_FFFF)
            let end = start + texts[entry].count
            if claimed[start..<end].contains(true) { continue }
            for k in start..<end { claimed[k] = true }
            cuts.append((start, entry))
        }
        cuts.sort { $0.start < $1.start }
        var fragments: [Fragment] = []
        var position = 0
        for cut in cuts {
            if cut.start > position { fragments.append(.text(position..<cut.start)) }
            fragments.append(.special(ids[cut.entry]))
            position = cut.start + texts[cut.entry].count
        }
        if position < text.count { fragments.append(.text(position..<text.count)) }
        return fragments
    }

    /// Calls `body` with every entry whose text starts at `text[start]`: the sorted
    /// range of entries sharing the first k bytes narrows as k grows.
    private func forEachMatch(_ text: [UInt8], at start: Int, _ body: (Int) -> Void) {
        var low = 0, high = texts.count
        var k = 0
        while low < high, start + k < text.count {
            let byte = text[start + k]
            // Entries in low..<high agree on bytes 0..<k; find those whose byte k is `byte`.
            var lo = low, hi = high
            while lo < hi {  // first entry with (count > k and text[k] >= byte)
                let mid = (lo + hi) / 2
                let t = texts[mid]
                if t.count <= k || t[k] < byte { lo = mid + 1 } else { hi = mid }
            }
            var upper = lo, hiBound = high
            while upper < hiBound {  // first entry with text[k] > byte
                let mid = (upper + hiBound) / 2
                if texts[mid][k] <= byte { upper = mid + 1 } else { hiBound = mid }
            }
            low = lo; high = upper
            k += 1
            // Entries exactly k bytes long sort first in the range.
            var e = low
            while e < high, texts[e].count == k {
                body(e)
                e += 1
            }
        }
    }
}
