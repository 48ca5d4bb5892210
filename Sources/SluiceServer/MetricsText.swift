import SluiceProxy

/// Prometheus text exposition (format 0.0.4): families with HELP and TYPE, samples with
/// escaped label values.
struct MetricsText {
    private(set) var text = ""

    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escaped($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + Self.format(value) + "\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        sample(name, labels, Double(value))
    }

    /// One histogram series: cumulative `_bucket`s over `RequestMetrics.bucketBounds` and +Inf
    /// from per-bucket counts (the last above every bound), then `_sum` and `_count`.
    mutating func histogram(_ name: String, _ labels: [(String, String)], buckets: [Int], sumNanoseconds: UInt64) {
        var cumulative = 0
        for (index, bound) in RequestMetrics.bucketBounds.enumerated() {
            cumulative += buckets[index]
            sample(name + "_bucket", labels + [("le", String(bound))], cumulative)
        }
        cumulative += buckets[RequestMetrics.bucketBounds.count]
        sample(name + "_bucket", labels + [("le", "+Inf")], cumulative)
        sample(name + "_sum", labels, Double(sumNanoseconds) / 1e9)
        sample(name + "_count", labels, cumulative)
    }

    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
