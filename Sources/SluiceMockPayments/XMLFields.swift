/// The flat `<xml><key>value</key>...</xml>` bodies of WeChat Pay v2 (unifiedorder and friends):
/// top-level elements only, values plain or in CDATA.
public enum XMLFields {
    public static func parse(_ text: String) -> [String: String]? {
        var body = Substring(text).drop { $0.isWhitespace }
        if body.hasPrefix("<?xml") {
            guard let end = body.range(of: "?>") else { return nil }
            body = body[end.upperBound...].drop { $0.isWhitespace }
        }
        guard body.hasPrefix("<xml>") else { return nil }
        body = body.dropFirst(5)
        var fields: [String: String] = [:]
        while true {
            body = body.drop { $0.isWhitespace }
            if body.hasPrefix("</xml>") { return fields }
            guard body.first == "<", let close = body.firstIndex(of: ">") else { return nil }
            let name = String(body[body.index(after: body.startIndex)..<close])
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            body = body[body.index(after: close)...]
            guard let end = body.range(of: "</\(name)>") else { return nil }
            var value = body[..<end.lowerBound]
            if value.hasPrefix("<![CDATA["), value.hasSuffix("]]>") {
                value = value.dropFirst(9).dropLast(3)
            } else if value.contains("<") {
                return nil
            }
            fields[name] = String(value)
            body = body[end.upperBound...]
        }
    }

    /// `<xml>` with the fields in the given order, every value in CDATA.
    public static func render(_ fields: [(String, String)]) -> String {
        "<xml>" + fields.map { "<\($0.0)><![CDATA[\($0.1)]]></\($0.0)>" }.joined() + "</xml>"
    }
}

extension Substring {
    func range(of needle: String) -> Range<Substring.Index>? {
        let n = Array(needle)
        guard !n.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index] == n[0] && self[index...].starts(with: n) {
                return index..<self.index(index, offsetBy: n.count)
            }
            index = self.index(after: index)
        }
        return nil
    }
}
