/// Why a scalar's text does not parse, as the message the operator will read. The position is
/// added by whoever knows which node the text came from.
public struct SyntaxProblem: Error, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }
}
