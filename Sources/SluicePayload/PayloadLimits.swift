/// Bounds on what one body may contain. They cap the work and memory an attacker can make the
/// proxy spend on a single request; payment bodies are small and flat, so the defaults are tight.
/// (The body size itself is bounded by the HTTP layer before the extractor runs.)
public struct PayloadLimits: Sendable, Hashable {
    /// Deepest container nesting for JSON; the top-level object is depth 1. The JSON parser
    /// recurses once per level, so values above `depthCeiling` are treated as `depthCeiling`.
    public var maxDepth: Int
    /// Most fields in one body: every JSON member and array element (containers included), every
    /// XML child element, every form pair.
    public var maxFields: Int
    /// Longest key / element name / form name, in UTF-8 bytes after decoding.
    public var maxKeyLength: Int

    /// The recursion bound that `maxDepth` cannot exceed.
    public static let depthCeiling = 512

    public init(maxDepth: Int = 32, maxFields: Int = 1_000, maxKeyLength: Int = 128) {
        self.maxDepth = maxDepth
        self.maxFields = maxFields
        self.maxKeyLength = maxKeyLength
    }

    /// Depth 32, 1,000 fields, keys up to 128 bytes.
    public static let `default` = PayloadLimits()

    var effectiveDepth: Int { min(max(maxDepth, 1), Self.depthCeiling) }
}
