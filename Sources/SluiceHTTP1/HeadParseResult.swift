/// The outcome of one call to a head parser.
public enum HeadParseResult<Head> {
    /// The end of the head is not in the bytes yet: read more and call again with all of them.
    case needMore
    /// The head, and its length in bytes including the final CRLFCRLF (and a tolerated leading CRLF).
    case complete(Head, consumed: Int)
}

extension HeadParseResult: Sendable where Head: Sendable {}
