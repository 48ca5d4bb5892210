import Synchronization

/// The backend's current behaviour, shared by every loop and replaced whole by `POST /__control`.
public final class BehaviourSwitch: Sendable {
    private let current: Mutex<BackendBehaviour>

    public init(_ initial: BackendBehaviour) { current = Mutex(initial) }

    public var behaviour: BackendBehaviour { current.withLock { $0 } }

    /// Applies a control body atomically; returns the new behaviour.
    public func apply(control body: [UInt8]) throws(BackendBehaviour.SettingError) -> BackendBehaviour {
        var result: Result<BackendBehaviour, BackendBehaviour.SettingError> = .success(BackendBehaviour())
        current.withLock { b in
            var next = b
            do throws(BackendBehaviour.SettingError) {
                try next.apply(control: body)
                b = next
                result = .success(next)
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }
}
