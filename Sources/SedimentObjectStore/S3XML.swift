import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Just enough XML for S3's answers: the text of elements by name, in document order, with
/// entities decoded (`<Key>a&amp;b</Key>` → `a&b`). Element nesting is kept as a path.
final class S3XML: NSObject, XMLParserDelegate {
    private(set) var elements: [(path: String, text: String)] = []
    private var stack: [String] = []
    private var text = ""

    /// Parses `bytes`; nil if they are not well-formed XML.
    static func parse(_ bytes: [UInt8]) -> S3XML? {
        let parser = XMLParser(data: Data(bytes))
        let doc = S3XML()
        parser.delegate = doc
        return parser.parse() ? doc : nil
    }

    /// Texts of every element whose path ends with `suffix` (e.g. `Contents/Key`).
    func values(_ suffix: String) -> [String] {
        elements.filter { $0.path == suffix || $0.path.hasSuffix("/" + suffix) }.map(\.text)
    }

    func value(_ suffix: String) -> String? { values(suffix).first }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        stack.append(name)
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        elements.append((stack.joined(separator: "/"), text))
        stack.removeLast()
        text = ""
    }

    /// Escapes text for an XML element.
    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(ch)
            }
        }
        return out
    }
}
