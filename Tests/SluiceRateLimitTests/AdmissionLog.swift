/// Admissions as (time µs, tokens), in time order, and the counts the window bounds are about.
struct AdmissionLog {
    private(set) var times: [Double] = []
    /// cumulative[i]: tokens admitted by the first i admissions.
    private var cumulative: [Int] = [0]

    var total: Int { cumulative[cumulative.count - 1] }

    mutating func record(_ time: Double, tokens: Int) {
        precondition(times.last.map { $0 <= time } ?? true, "admissions in time order")
        times.append(time)
        cumulative.append(total + tokens)
    }

    /// Tokens admitted at times in [start, end).
    func admitted(from start: Double, to end: Double) -> Int {
        cumulative[firstIndex(atOrAfter: end)] - cumulative[firstIndex(atOrAfter: start)]
    }

    /// The most admitted in any window (t − window, t]: the windows ending at an admission are
    /// enough (moving the end on to the next admission only adds).
    func mostInAnyWindow(_ window: Double) -> Int {
        var most = 0
        var start = 0
        for end in times.indices {
            while times[start] <= times[end] - window { start += 1 }
            most = max(most, cumulative[end + 1] - cumulative[start])
        }
        return most
    }

    private func firstIndex(atOrAfter time: Double) -> Int {
        var low = 0, high = times.count
        while low < high {
            let middle = (low + high) / 2
            if times[middle] < time { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
