/// Header fields in arrival order. Names are stored lower-cased (HTTP field names are
/// case-insensitive, and HTTP/2 requires lower case), so lookups are plain comparisons.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public private(set) var fields: [Field]

    public init() { fields = [] }

    public init(reservingCapacity capacity: Int) {
        fields = []
        fields.reserveCapacity(capacity)
    }

    public mutating func reserveCapacity(_ capacity: Int) { fields.reserveCapacity(capacity) }

    public init(_ pairs: [(String, String)]) {
        fields = pairs.map { Field(name: $0.0.lowercased(), value: $0.1) }
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// Appends a field whose name the caller guarantees is already lower-case.
    public mutating func appendLowercased(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    public mutating func add(name: String, value: String) {
        fields.append(Field(name: Self.lowercase(name), value: value))
    }

    /// Replaces every field of that name with one field.
    public mutating func set(name: String, value: String) {
        let lower = Self.lowercase(name)
        remove(name: lower)
        fields.append(Field(name: lower, value: value))
    }

    public mutating func remove(name: String) {
        let lower = Self.lowercase(name)
        guard fields.contains(where: { $0.name == lower }) else { return }
        fields.removeAll { $0.name == lower }
    }

    /// Callers mostly pass lower-case literals: check before paying for `lowercased()`.
    @inline(__always)
    static func lowercase(_ name: String) -> String {
        name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? name.lowercased() : name
    }

    public mutating func removeAll(where shouldRemove: (Field) -> Bool) {
        fields.removeAll(where: shouldRemove)
    }

    /// The first value of that field, or nil.
    public subscript(name: String) -> String? {
        let lower = Self.lowercase(name)
        for field in fields where field.name == lower { return field.value }
        return nil
    }

    public func values(for name: String) -> [String] {
        let lower = Self.lowercase(name)
        return fields.compactMap { $0.name == lower ? $0.value : nil }
    }

    public func contains(name: String) -> Bool { self[name] != nil }

    /// The comma-separated tokens of every field of that name, lower-cased and trimmed
    /// (for `Connection`, `Transfer-Encoding`, `Expect`).
    public func tokens(for name: String) -> [String] {
        values(for: name).flatMap { value in
            value.split(separator: ",").map { $0.trimmingSpaces().lowercased() }
        }.filter { !$0.isEmpty }
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var slice = self
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return slice
    }
}
