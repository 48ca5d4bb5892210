internal import CSys

/// The process's malloc heap.
public enum Heap {
    /// Gives free pages inside the heap back to the system (glibc's `malloc_trim`): memory freed
    /// after a burst stays in malloc's free lists otherwise, reusable but counted in RSS. It walks
    /// the heap, so callers do it rarely.
    public static func releaseFreePages() {
        _ = malloc_trim(0)
    }
}
