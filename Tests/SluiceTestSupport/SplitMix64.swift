import SluiceMockPayments

/// The seeded generator the mock backend draws its latencies with, so random tests replay
/// exactly. One implementation serves both.
public typealias SplitMix64 = SluiceMockPayments.SplitMix64
