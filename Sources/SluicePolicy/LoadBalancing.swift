/// How a cluster picks an endpoint for each request. The raw values are the policy spellings.
public enum LoadBalancing: String, Sendable, CaseIterable {
    case roundRobin = "round_robin"
    case leastRequest = "least_request"
}
