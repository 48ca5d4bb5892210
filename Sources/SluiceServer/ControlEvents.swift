internal import CSys
import SluicePolicy
#if canImport(Glibc)
import Glibc
#endif

/// What the control thread (the main thread) reacts to: signals through a signalfd, and changes
/// to the policy directory through inotify. Signals are blocked before any thread exists, so no
/// handler runs on a loop thread and no EINTR races exist (see the field notes, rule 6).
final class ControlEvents {
    enum Event: Equatable {
        case reload
        case drain
        case stop
        case policyChanged
        /// SIGUSR1: reopen the log files (after logrotate moved them away).
        case reopenLogs
        /// A signal we take so that its default action (ending the process mid-request) does not.
        case ignored(String)
    }

    private let signalFD: Int32
    private let inotifyFD: Int32
    private static let handledSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2]

    /// Call before any other thread is created.
    static func blockSignals() {
        _ = sluice_ignore_sigpipe()
        handledSignals.withUnsafeBufferPointer { _ = sluice_block_signals($0.baseAddress, Int32($0.count)) }
    }

    /// The policy directory as given (it may be a symlink), the watch on what it names now, and
    /// the watch on the directory holding it.
    private let directory: String
    private var directoryWatch: Int32 = -1
    private var parentWatch: Int32 = -1
    private let entryName: String
    /// Watches on the directories inside the policy directory (`certs/`, `keys/`): a renewed
    /// certificate or a rotated secret written there is a change like a policy file's.
    private var subdirectoryWatches: [Int32: String] = [:]
    /// How deep, and how many, directories under the policy directory are watched.
    static let subdirectoryDepth = 3
    static let subdirectoryLimit = 128

    init(watching directory: String) {
        signalFD = Self.handledSignals.withUnsafeBufferPointer { sluice_signalfd($0.baseAddress, Int32($0.count)) }
        inotifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        var trimmed = directory
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.directory = trimmed
        let slash = trimmed.lastIndex(of: "/")
        entryName = slash.map { String(trimmed[trimmed.index(after: $0)...]) } ?? trimmed
        let parent = slash.map { $0 == trimmed.startIndex ? "/" : String(trimmed[..<$0]) } ?? "."
        if inotifyFD >= 0 {
            watchDirectory()
            // Deploys replace the directory (`mv new policies`) or swap a symlink to it
            // (`ln -sfn r2 cur.tmp && mv -T cur.tmp current`): the watch on the old directory
            // then hears nothing more. The parent's entry for it is watched too.
            parentWatch = inotify_add_watch(inotifyFD, parent, UInt32(IN_CREATE | IN_MOVED_TO | IN_DONT_FOLLOW | IN_ONLYDIR))
        }
    }

    private static let watchMask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)

    /// (Re)watches what the policy path names now (following a symlink), and the directories
    /// inside it (following symlinks too: Kubernetes mounts secrets as a symlinked `..data`).
    private func watchDirectory() {
        let watch = inotify_add_watch(inotifyFD, directory, Self.watchMask)
        if directoryWatch >= 0 && watch != directoryWatch { _ = inotify_rm_watch(inotifyFD, directoryWatch) }
        directoryWatch = watch
        var found: [String] = []
        Self.collectSubdirectories(of: directory, depth: Self.subdirectoryDepth, into: &found)
        var watches: [Int32: String] = [:]
        for path in found {
            let watch = inotify_add_watch(inotifyFD, path, Self.watchMask)
            if watch >= 0 && watch != directoryWatch { watches[watch] = path }
        }
        for (old, _) in subdirectoryWatches where watches[old] == nil && old != directoryWatch { _ = inotify_rm_watch(inotifyFD, old) }
        subdirectoryWatches = watches
    }

    /// The directories under `path`, `depth` levels down, at most `subdirectoryLimit` in all.
    private static func collectSubdirectories(of path: String, depth: Int, into found: inout [String]) {
        guard depth > 0, let stream = opendir(path) else { return }
        defer { closedir(stream) }
        var children: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            // Hidden directories (`.git` above all: a checkout's objects filled the budget
            // before `certs/` and `keys/` were reached) are not policy. Kubernetes' `..data`
            // swap shows as an event on the directory holding it, which is watched.
            if name.hasPrefix(".") { continue }
            let child = path + "/" + name
            var info = stat()
            guard stat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
            children.append(child)
        }
        for child in children.sorted() {
            guard found.count < subdirectoryLimit else { return }
            found.append(child)
            collectSubdirectories(of: child, depth: depth - 1, into: &found)
        }
    }

    /// Reads the pending inotify events: true when the policy may have changed. An event on the
    /// parent counts only for the policy directory's own name; when that entry was replaced, or
    /// the watched directory went away, what the path names now is watched instead.
    private func readWatchEvents() -> Bool {
        var changed = false
        var rewatch = false
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(inotifyFD, &scratch, scratch.count)
            guard count > 0 else { break }
            var offset = 0
            let header = MemoryLayout<inotify_event>.size
            while offset + header <= count {
                let (watch, mask, nameLength) = scratch.withUnsafeBytes { bytes in
                    (bytes.load(fromByteOffset: offset, as: Int32.self),
                     bytes.load(fromByteOffset: offset + 4, as: UInt32.self),
                     Int(bytes.load(fromByteOffset: offset + 12, as: UInt32.self)))
                }
                let nameBytes = scratch[(offset + header)..<min(offset + header + nameLength, count)]
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                offset += header + nameLength
                if watch == parentWatch {
                    if name == entryName { changed = true; rewatch = true }
                } else if watch == directoryWatch {
                    // In the policy directory, only the files the loader reads are the policy:
                    // an editor's swap file, backup or lock (`.routes.yaml.swp`, `routes.yaml~`)
                    // reloaded it every few seconds while someone edited.
                    if name.isEmpty || mask & UInt32(IN_ISDIR) != 0 || PolicyLoader.isPolicyFileName(name) { changed = true }
                    if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED) != 0 { rewatch = true }
                    // A directory made or moved in (a new `certs/`, a swapped `..data`).
                    if mask & UInt32(IN_ISDIR) != 0 || mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 { rewatch = true }
                } else if subdirectoryWatches[watch] != nil {
                    // Keys and certificates are named by the policy, in any file name; editor
                    // debris is not one of them.
                    if name.isEmpty || mask & UInt32(IN_ISDIR) != 0 || !Self.isEditorDebris(name) { changed = true }
                    if mask & UInt32(IN_ISDIR | IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED) != 0 || mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                        rewatch = true
                    }
                }
            }
        }
        if rewatch { watchDirectory() }
        return changed
    }

    /// Files editors and tools leave beside the ones they edit: hidden swap and lock files
    /// (vim's `.x.swp`, emacs's `.#x`), backups (`x~`, `#x#`, `.orig`, `.bak`) and temporaries.
    static func isEditorDebris(_ name: String) -> Bool {
        name.hasPrefix(".") || name.hasSuffix("~") || (name.hasPrefix("#") && name.hasSuffix("#"))
            || [".swp", ".swx", ".swo", ".orig", ".bak", ".tmp", ".rej"].contains { name.hasSuffix($0) }
    }

    deinit {
        close(signalFD)
        if inotifyFD >= 0 { close(inotifyFD) }
    }

    /// Waits up to `timeoutMillis` (-1 = forever) for the next event; nil on timeout.
    func next(timeoutMillis: Int32) -> Event? {
        var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&fds, nfds_t(inotifyFD >= 0 ? 2 : 1), timeoutMillis)
        guard ready > 0 else { return nil }
        if fds[0].revents != 0 {
            var info = signalfd_siginfo()
            if read(signalFD, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
                switch Int32(info.ssi_signo) {
                case SIGHUP: return .reload
                case SIGTERM: return .drain
                case SIGINT: return .stop
                case SIGUSR1: return .reopenLogs
                case SIGUSR2: return .ignored("SIGUSR2")
                default: return nil
                }
            }
        }
        if inotifyFD >= 0 && fds[1].revents != 0 {
            return readWatchEvents() ? .policyChanged : nil
        }
        return nil
    }
}
