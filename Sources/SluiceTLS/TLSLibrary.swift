internal import COpenSSL

/// Facts about the OpenSSL that Sluice is linked against.
public enum TLSLibrary {
    /// e.g. "OpenSSL 3.0.19 ...": read from the library at run time, not from the headers.
    public static var version: String {
        String(cString: OpenSSL_version(OPENSSL_VERSION))
    }
}
