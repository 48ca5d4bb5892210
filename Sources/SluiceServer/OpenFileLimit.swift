#if canImport(Glibc)
import Glibc
#endif

/// The process's limit on open descriptors: every connection, upstream connection and Redis
/// connection is one. Distributions start services with a soft limit of 1024 and a much higher
/// hard one; a listener's default of 10,000 connections cannot be reached under the soft one.
/// So the soft limit is raised to the hard one at start, as Go's runtime and HAProxy do.
enum OpenFileLimit {
    /// Raises the soft limit to the hard one; the (old, new) soft limits when it changed.
    static func raiseToHardLimit() -> (from: UInt64, to: UInt64)? {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return nil }
        let from = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(resource, &limit) == 0 else { return nil }
        return (UInt64(from), UInt64(limit.rlim_cur))
    }
}
