#if canImport(Glibc)
import Glibc
#endif

/// Byte prefixes in a radix tree, so that finding the prefixes of a path costs the length of the
/// path, not the number of prefixes: 10,000 prefix routes are looked up as fast as 10.
///
/// Built once per policy generation and then only read, from every loop at once. The tree is
/// frozen into flat arrays (labels, child tables, values): a lookup walks indices and compares
/// bytes with `memcmp`, and allocates nothing.
struct PrefixTree<Value: Sendable>: Sendable {
    private struct Node: Sendable {
        /// The edge label from the parent: `labels[labelStart ..< labelStart + labelCount]`.
        var labelStart: Int32
        var labelCount: Int32
        /// Children sorted by the first byte of their label: `childBytes`/`childNodes[childStart ..< +childCount]`.
        var childStart: Int32
        var childCount: Int32
        /// The values whose prefix ends exactly here, in insertion order: `values[valueStart ..< +valueCount]`.
        var valueStart: Int32
        var valueCount: Int32
        /// The nearest strict ancestor that holds values, or -1: the next shorter matching prefix.
        var shorterPrefixNode: Int32
    }

    private let nodes: [Node]
    private let labels: [UInt8]
    private let childBytes: [UInt8]
    private let childNodes: [Int32]
    private let values: [Value]

    var isEmpty: Bool { values.isEmpty }

    /// `entries` in the order that breaks ties: values under the same prefix are tried in it.
    init(_ entries: [(prefix: String, value: Value)]) {
        var builder = Builder()
        for (index, entry) in entries.enumerated() { builder.insert(Array(entry.prefix.utf8), valueIndex: index) }
        var nodes: [Node] = []
        var labels: [UInt8] = []
        var childBytes: [UInt8] = []
        var childNodes: [Int32] = []
        var values: [Value] = []
        nodes.reserveCapacity(builder.nodes.count)
        values.reserveCapacity(entries.count)
        // Breadth-first numbering keeps each node's children contiguous in the child table.
        var order = [0]
        var frozenIndex = [Int](repeating: -1, count: builder.nodes.count)
        frozenIndex[0] = 0
        var head = 0
        while head < order.count {
            let node = builder.nodes[order[head]]
            head += 1
            for child in node.children {
                frozenIndex[child] = order.count
                order.append(child)
            }
        }
        var shorter = [Int32](repeating: -1, count: builder.nodes.count)
        for builderIndex in order {
            let node = builder.nodes[builderIndex]
            let ownIndex = Int32(frozenIndex[builderIndex])
            let nearestWithValues = node.valueIndices.isEmpty ? shorter[builderIndex] : ownIndex
            nodes.append(Node(labelStart: Int32(labels.count), labelCount: Int32(node.label.count),
                              childStart: Int32(childNodes.count), childCount: Int32(node.children.count),
                              valueStart: Int32(values.count), valueCount: Int32(node.valueIndices.count),
                              shorterPrefixNode: shorter[builderIndex]))
            labels.append(contentsOf: node.label)
            for child in node.children {
                childBytes.append(builder.nodes[child].label[0])
                childNodes.append(Int32(frozenIndex[child]))
                shorter[child] = nearestWithValues
            }
            values.append(contentsOf: node.valueIndices.map { entries[$0].value })
        }
        self.nodes = nodes
        self.labels = labels
        self.childBytes = childBytes
        self.childNodes = childNodes
        self.values = values
    }

    /// The first value, longest prefix first and insertion order within a prefix, for which
    /// `accept` holds; nil when no prefix of `path` has one.
    func first(prefixOf path: Substring, where accept: (Value) -> Bool) -> Value? {
        guard !values.isEmpty else { return nil }
        var path = path
        let deepest = path.withUTF8 { deepestNodeWithValues(on: $0) }
        var node = deepest
        while node >= 0 {
            let entry = nodes[Int(node)]
            let start = Int(entry.valueStart)
            for index in start ..< start + Int(entry.valueCount) where accept(values[index]) { return values[index] }
            node = entry.shorterPrefixNode
        }
        return nil
    }

    /// Walks down along `path` as far as labels match; the last node passed that holds values.
    private func deepestNodeWithValues(on path: UnsafeBufferPointer<UInt8>) -> Int32 {
        labels.withUnsafeBufferPointer { labels in
            var node = 0
            var position = 0
            var deepest: Int32 = nodes[0].valueCount > 0 ? 0 : -1
            while position < path.count, let child = child(of: node, startingWith: path[position]) {
                let entry = nodes[child]
                let count = Int(entry.labelCount)
                guard path.count - position >= count,
                      memcmp(path.baseAddress! + position, labels.baseAddress! + Int(entry.labelStart), count) == 0
                else { break }
                position += count
                node = child
                if entry.valueCount > 0 { deepest = Int32(child) }
            }
            return deepest
        }
    }

    /// Children are few (at most 256): a linear scan of their first bytes beats a search.
    @inline(__always)
    private func child(of node: Int, startingWith byte: UInt8) -> Int? {
        let entry = nodes[node]
        let start = Int(entry.childStart)
        for index in start ..< start + Int(entry.childCount) where childBytes[index] == byte {
            return Int(childNodes[index])
        }
        return nil
    }

    /// The mutable radix tree that `init` freezes: inserting splits an edge where a new prefix
    /// leaves it, so every node but the root has a non-empty label and siblings never share a
    /// first byte.
    private struct Builder {
        struct Node {
            var label: [UInt8]
            var children: [Int] = []   // sorted by the first byte of their label
            var valueIndices: [Int] = []
        }

        var nodes = [Node(label: [])]

        mutating func insert(_ key: [UInt8], valueIndex: Int) {
            var node = 0
            var position = 0
            while position < key.count {
                let byte = key[position]
                guard let slot = nodes[node].children.firstIndex(where: { nodes[$0].label[0] == byte }) else {
                    let leaf = appendNode(label: Array(key[position...]))
                    insertChild(leaf, into: node)
                    node = leaf
                    position = key.count
                    break
                }
                let child = nodes[node].children[slot]
                let label = nodes[child].label
                var common = 0
                while common < label.count, position + common < key.count, label[common] == key[position + common] {
                    common += 1
                }
                if common < label.count {
                    // The key leaves (or ends inside) this edge: split it at the divergence.
                    let middle = appendNode(label: Array(label[..<common]))
                    nodes[child].label = Array(label[common...])
                    nodes[middle].children = [child]
                    nodes[node].children[slot] = middle
                    node = middle
                } else {
                    node = child
                }
                position += common
            }
            nodes[node].valueIndices.append(valueIndex)
        }

        private mutating func appendNode(label: [UInt8]) -> Int {
            nodes.append(Node(label: label))
            return nodes.count - 1
        }

        private mutating func insertChild(_ child: Int, into parent: Int) {
            let byte = nodes[child].label[0]
            let slot = nodes[parent].children.firstIndex { nodes[$0].label[0] > byte } ?? nodes[parent].children.count
            nodes[parent].children.insert(child, at: slot)
        }
    }
}
