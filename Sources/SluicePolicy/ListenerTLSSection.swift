import Yams

extension PolicyFileReader {
    /// A listener's `tls` mapping. Certificate paths are resolved against this file's directory;
    /// whether the files are usable is checked later (`sluice check`, start, reload), because
    /// reading them needs OpenSSL, which this module does not know.
    func readListenerTLS(_ node: Node, of listener: String) -> ListenerTLSPolicy? {
        let what = "tls of \(listener)"
        guard let fields = mapping(node, what: what, allowed: [
            "certificate", "key", "sni", "alpn", "client_ca", "client_certificate", "handshake_timeout",
        ]) else { return nil }
        // Without usable paths the rest is still read, so that all its mistakes are reported.
        let paths = certificatePaths(fields, of: what)
        let unknown = PolicyLocation(file: path, line: 1, column: 1)
        var tls = ListenerTLSPolicy(certificate: paths ?? TLSCertificatePaths(
            certificate: "", key: "", certificateLocation: unknown, keyLocation: unknown))
        if let node = fields["sni"] { tls.sni = sniCertificates(node, of: what) }
        if let node = fields["alpn"], let alpn = alpnProtocols(node) { tls.alpn = alpn }
        if let node = fields["client_ca"], let path = filePath(node) {
            tls.clientCA = path
            tls.clientCALocation = location(of: node)
        }
        if let node = fields["client_certificate"],
           let mode = choice(node, "client_certificate mode", as: ClientCertificateMode.self) {
            tls.clientCertificate = mode
            if fields["client_ca"] == nil {
                report("client_certificate needs client_ca (the CAs that client certificates are checked against)", at: node)
            }
        }
        if let node = fields["handshake_timeout"], let value = duration(node) { tls.handshakeTimeout = value }
        return paths == nil ? nil : tls
    }

    private func certificatePaths(_ fields: CheckedMapping, of what: String) -> TLSCertificatePaths? {
        let certificateNode = required("certificate", in: fields, of: what)
        let keyNode = required("key", in: fields, of: what)
        guard let certificateNode, let keyNode,
              let certificate = filePath(certificateNode), let key = filePath(keyNode) else { return nil }
        return TLSCertificatePaths(certificate: certificate, key: key, certificateLocation: location(of: certificateNode),
                                   keyLocation: location(of: keyNode))
    }

    /// `sni: [{names: [...], certificate: ..., key: ...}]`; a name may appear once in all entries.
    private func sniCertificates(_ node: Node, of what: String) -> [SNICertificatePolicy] {
        guard let items = list(node, expected: "a list of {names, certificate, key} entries") else { return [] }
        var seen: [String: SourcePosition] = [:]
        var entries: [SNICertificatePolicy] = []
        for item in items {
            let entryWhat = "sni entry of \(what)"
            guard let fields = mapping(item, what: entryWhat, allowed: ["names", "certificate", "key"]) else { continue }
            var names: [String] = []
            if let namesNode = required("names", in: fields, of: entryWhat),
               let nameNodes = list(namesNode, expected: "a list of host names like [api.example.com, \"*.pay.example.com\"]") {
                if nameNodes.isEmpty { report("sni entry has no names", at: namesNode) }
                for nameNode in nameNodes {
                    guard let name = serverName(nameNode) else { continue }
                    if let first = seen[name] {
                        report("duplicate SNI name '\(name)' (first listed at \(first))", at: nameNode)
                        continue
                    }
                    seen[name] = position(of: nameNode)
                    names.append(name)
                }
            }
            guard let paths = certificatePaths(fields, of: entryWhat) else { continue }
            entries.append(SNICertificatePolicy(names: names, paths: paths))
        }
        return entries
    }

    /// A host name (letters, digits, '-', dots) or a wildcard for one leftmost label: `*.example.com`.
    private func serverName(_ node: Node) -> String? {
        parsed(node, expected: "a host name") { text in
            let name = text.lowercased()
            let host = name.hasPrefix("*.") ? String(name.dropFirst(2)) : name
            let labels = host.split(separator: ".", omittingEmptySubsequences: false)
            let valid = !host.isEmpty && host.utf8.count <= 253 && labels.allSatisfy { label in
                !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            }
            guard valid else {
                return .failure(SyntaxProblem("invalid SNI name '\(text)' (a host name like api.example.com, or *.example.com)"))
            }
            return .success(name)
        }
    }

    private func alpnProtocols(_ node: Node) -> [String]? {
        guard let items = list(node, expected: "a list of ALPN protocols like [http/1.1]") else { return nil }
        if items.isEmpty {
            report("alpn is empty (leave it out for the default [\(ListenerTLSPolicy.defaultALPN.joined(separator: ", "))])", at: node)
            return nil
        }
        var protocols: [String] = []
        for item in items {
            guard let name = text(item, expected: "an ALPN protocol name") else { continue }
            if protocols.contains(name) {
                report("duplicate ALPN protocol '\(name)'", at: item)
            } else if !ListenerTLSPolicy.knownALPN.contains(name) {
                report("unknown ALPN protocol '\(name)' (allowed: \(ListenerTLSPolicy.knownALPN.joined(separator: ", ")))", at: item)
            } else {
                protocols.append(name)
            }
        }
        return protocols
    }

    /// A file path; a relative one is taken from the directory of the policy file that names it.
    public func filePath(_ node: Node) -> String? {
        guard let text = text(node, expected: "a file path"), !text.isEmpty else {
            if node.scalar?.string == "" { report("expected a file path", at: node) }
            return nil
        }
        if text.hasPrefix("/") { return text }
        guard let slash = path.lastIndex(of: "/") else { return text }
        return String(path[...slash]) + text
    }

    func location(of node: Node) -> PolicyLocation {
        let position = position(of: node)
        return PolicyLocation(file: position.file, line: position.line, column: position.column)
    }
}
