// MinHeap.swift — the binary min-heap both tokenizers merge with (BPE by merge
// rank, SentencePiece by bigram score): pops the smallest element by `<`.

struct MinHeap<Element: Comparable> {
    var items: [Element] = []

    mutating func push(_ value: Element) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !(items[child] < items[parent]) { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        items[0] = last
        var parent = 0
        let count = items.count
        while true {
            let left = 2 * parent + 1
            if left >= count { break }
            let right = left + 1
            let first = right < count && items[right] < items[left] ? right : left
            if !(items[first] < items[parent]) { break }
            items.swapAt(parent, first)
            parent = first
        }
        return top
    }
}
