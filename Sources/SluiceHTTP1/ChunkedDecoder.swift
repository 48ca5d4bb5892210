import SluiceHTTP

/// Incremental decoder of the chunked transfer coding (RFC 9112 §7.1), strict about every
/// byte of framing: a chunk size is 1 to 16 hex digits and at most 2^62, optionally followed
/// directly by `;extension` (no whitespace), then CRLF; chunk data is followed by exactly
/// CRLF; after the `0` chunk come trailer fields (checked for shape and kept in `trailers`) and
/// CRLF.
///
/// The decoder keeps no bytes: any split of the input across calls decodes the same.
public struct ChunkedDecoder {
    /// Longest size line (digits and extensions, without CRLF).
    static let maxSizeLineBytes = 4096
    static let maxChunkSize = 1 << 62

    fileprivate enum State {
        case size              // in the hex digits (none read yet when `digits == 0`)
        case extensions        // after `;`, until CR
        case sizeLF            // CR seen after the size line
        case data              // `remaining` bytes of data to go
        case dataCR
        case dataLF
        case trailerLineStart  // at the start of a trailer field line or the final CRLF
        case trailerName       // in a trailer field name
        case trailerValue      // after the colon, until CR
        case trailerLF         // CR seen after a trailer field line
        case finalLF           // CR seen for the empty line that ends the body
        case finished
    }

    public let maxTrailerBytes: Int
    private var state = State.size
    private var digits = 0
    private var lineBytes = 0
    private var remaining = 0
    private var trailerBytes = 0
    /// The trailer field line being read: its name, then its value.
    private var fieldLine: [UInt8] = []
    private var fieldNameLength = 0
    /// The trailer fields, names lower-cased, values without surrounding whitespace; filled as
    /// each line completes (nothing is allocated for a body without trailers).
    public private(set) var trailers = HTTPHeaders()

    public init(maxTrailerBytes: Int = 8192) {
        self.maxTrailerBytes = maxTrailerBytes
    }

    /// True once the last chunk and the trailer section have been read.
    public var isFinished: Bool { state == .finished }

    /// Decodes as much of `input` as possible; calls `onData` with slices of `input`
    /// (zero-copy). Returns the bytes consumed (all of `input` unless the body ended within
    /// it: what follows belongs to the next message) and whether the body has ended.
    /// Throws `HTTP1Error` (status 400) on malformed framing, and whatever `onData` throws.
    public mutating func decode(_ input: UnsafeRawBufferPointer,
                                onData: (UnsafeRawBufferPointer) throws -> Void) throws -> (consumed: Int, finished: Bool) {
        var index = 0
        let count = input.count
        while index < count {
            if state == .data {
                let take = min(remaining, count - index)
                remaining -= take
                if remaining == 0 { state = .dataCR }
                let start = index
                index += take
                try onData(UnsafeRawBufferPointer(rebasing: input[start..<index]))
                continue
            }
            if state == .finished { break }
            if state.isTrailer {
                trailerBytes += 1
                if trailerBytes > maxTrailerBytes { throw HTTP1Error.trailerTooLarge }
            }
            try step(input[index])
            index += 1
        }
        return (index, state == .finished)
    }

    /// Advances the framing state by one byte (anything but chunk data).
    private mutating func step(_ byte: UInt8) throws(HTTP1Error) {
        switch state {
        case .size:
            if let value = ASCII.hexValue(byte) {
                digits += 1
                lineBytes += 1
                // Checked before the shift: a shift past 63 bits would wrap, not trap.
                guard digits <= 16, remaining <= Self.maxChunkSize >> 4 else { throw .chunkSizeTooLarge }
                remaining = remaining << 4 | Int(value)
                guard remaining <= Self.maxChunkSize else { throw .chunkSizeTooLarge }
                return
            }
            guard digits > 0 else { throw .badChunk }  // empty size, leading space, sign
            if byte == ASCII.cr {
                state = .sizeLF
            } else if byte == ASCII.semicolon {
                lineBytes += 1
                state = .extensions
            } else {
                throw .badChunk  // `0x`, trailing space, anything else
            }
        case .extensions:
            if byte == ASCII.cr {
                state = .sizeLF
                return
            }
            guard ASCII.isFieldValueByte(byte) else { throw .badChunk }  // LF, NUL, CTL
            lineBytes += 1
            guard lineBytes <= Self.maxSizeLineBytes else { throw .chunkLineTooLong }
        case .sizeLF:
            guard byte == ASCII.lf else { throw .badChunk }
            digits = 0
            lineBytes = 0
            state = remaining == 0 ? .trailerLineStart : .data
        case .dataCR:
            guard byte == ASCII.cr else { throw .badChunk }
            state = .dataLF
        case .dataLF:
            guard byte == ASCII.lf else { throw .badChunk }
            state = .size
        case .trailerLineStart:
            if byte == ASCII.cr {
                state = .finalLF
            } else if ASCII.isToken(byte) {
                state = .trailerName  // a leading SP/HTAB (obs-fold) or `:` is not a token
                fieldLine.removeAll(keepingCapacity: true)
                fieldLine.append(byte)
            } else {
                throw .badChunk
            }
        case .trailerName:
            if byte == ASCII.colon {
                state = .trailerValue
                fieldNameLength = fieldLine.count
            } else if ASCII.isToken(byte) {
                fieldLine.append(byte)
            } else {
                throw .badChunk
            }
        case .trailerValue:
            if byte == ASCII.cr {
                state = .trailerLF
            } else if ASCII.isFieldValueByte(byte) {
                fieldLine.append(byte)
            } else {
                throw .badChunk
            }
        case .trailerLF:
            guard byte == ASCII.lf else { throw .badChunk }
            state = .trailerLineStart
            keepTrailerField()
        case .finalLF:
            guard byte == ASCII.lf else { throw .badChunk }
            state = .finished
        case .data, .finished:
            break  // handled by `decode`
        }
    }
}

extension ChunkedDecoder {
    private mutating func keepTrailerField() {
        var value = fieldLine[fieldNameLength...]
        while let first = value.first, first == ASCII.space || first == ASCII.htab { value.removeFirst() }
        while let last = value.last, last == ASCII.space || last == ASCII.htab { value.removeLast() }
        let name = String(decoding: fieldLine[..<fieldNameLength], as: UTF8.self).lowercased()
        trailers.appendLowercased(name: name, value: String(decoding: value, as: UTF8.self))
    }
}

fileprivate extension ChunkedDecoder.State {
    var isTrailer: Bool {
        switch self {
        case .trailerLineStart, .trailerName, .trailerValue, .trailerLF, .finalLF: true
        default: false
        }
    }
}
