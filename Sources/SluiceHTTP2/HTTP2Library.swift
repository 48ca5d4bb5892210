internal import CNghttp2

/// Facts about the libnghttp2 that Sluice is linked against.
public enum HTTP2Library {
    /// The run-time library version, e.g. "1.52.0".
    public static var version: String {
        guard let info = nghttp2_version(0) else { return "unknown" }
        return String(cString: info.pointee.version_str)
    }
}
