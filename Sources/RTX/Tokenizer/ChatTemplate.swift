// ChatTemplate.swift — chat formats as data. The GGUF's Jinja template
// (tokenizer.chat_template) is never evaluated: it is only searched for the markers
// that name its format and for a default system prompt.

public struct ChatMessage: Sendable, Equatable {
    /// "system", "user" or "assistant".
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role; self.content = content
    }
}

public enum ChatFormat: Sendable, Equatable {
    /// `<|im_start|>role\ncontent<|im_end|>\n` (SmolLM, Qwen, ...).
    case chatML
    /// `<start_of_turn>user\ncontent<end_of_turn>\n`, assistant as "model", the system
    /// text prepended to the first user turn. BOS comes from the tokenizer.
    case gemma
    /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`. BOS from the tokenizer.
    case llama3
    /// No chat markup: the contents, separated by blank lines (base models).
    case plain

    /// The format a template (or, without one, the vocabulary) speaks.
    public static func detect(template: String?, vocabulary: Vocabulary) -> ChatFormat {
        let markers: [(String, ChatFormat)] = [
            ("<|im_start|>", .chatML), ("<start_of_turn>", .gemma), ("<|start_header_id|>", .llama3),
        ]
        if let template {
            for (marker, format) in markers where template.contains(marker) { return format }
        }
        for (marker, format) in markers where vocabulary.tokens.contains(marker) { return format }
        return .plain
    }

    /// The prompt text for `messages`; encode it with parseSpecial so the markers
    /// become their control tokens. `defaultSystem` is inserted (ChatML) before a
    /// conversation that does not open with a system message.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, defaultSystem: String?) -> String {
        var out = ""
        switch self {
        case .chatML:
            if let defaultSystem, let first = messages.first, first.role != "system" {
                out += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
            }
            for message in messages {
                out += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n"
            }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }

        case .gemma:
            var systemPrefix = ""
            for message in messages {
                if message.role == "system" {
                    systemPrefix += trimmed(message.content) + "\n\n"
                    continue
                }
                let role = message.role == "assistant" ? "model" : message.role
                out += "<start_of_turn>\(role)\n\(systemPrefix)\(trimmed(message.content))<end_of_turn>\n"
                systemPrefix = ""
            }
            if addGenerationPrompt { out += "<start_of_turn>model\n" }

        case .llama3:
            var all = messages
            if let defaultSystem, let first = messages.first, first.role != "system" {
                all.insert(ChatMessage(role: "system", content: defaultSystem), at: 0)
            }
            for message in all {
                out += "<|start_header_id|>\(message.role)<|end_header_id|>\n\n\(trimmed(message.content))<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }

        case .plain:
            out = messages.map(\.content).joined(separator: "\n\n")
        }
        return out
    }

    /// The literal system prompt a ChatML template inserts when the conversation has
    /// none: the text between "<|im_start|>system\n" and "<|im_end|>", when that text
    /// is a plain string (no Jinja expression or quote inside). SmolLM2's gives
    /// "You are a helpful AI assistant named SmolLM, trained by Hugging Face".
    public static func defaultSystemPrompt(in template: String) -> String? {
        // The template may hold a real newline or a Jinja "\n" escape.
        for opener in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
            guard let start = template.firstRange(of: opener),
                  let end = template[start.upperBound...].firstRange(of: "<|im_end|>") else { continue }
            let text = template[start.upperBound..<end.lowerBound]
            if text.isEmpty || text.contains(where: { "'\"{}".contains($0) }) { continue }
            return String(text.replacing("\\n", with: "\n"))
        }
        return nil
    }
}

/// A chat format with its default system prompt, read from checkpoint metadata.
public struct ChatTemplate: Sendable, Equatable {
    public var format: ChatFormat
    public var defaultSystem: String?

    public init(format: ChatFormat, defaultSystem: String? = nil) {
        self.format = format; self.defaultSystem = defaultSystem
    }

    /// `template`: tokenizer.chat_template, if the checkpoint has one.
    public init(template: String?, vocabulary: Vocabulary) {
        let format = ChatFormat.detect(template: template, vocabulary: vocabulary)
        let system = format == .chatML ? template.flatMap(ChatFormat.defaultSystemPrompt(in:)) : nil
        self.init(format: format, defaultSystem: system)
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        format.render(messages, addGenerationPrompt: addGenerationPrompt, defaultSystem: defaultSystem)
    }
}

private func trimmed(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
          let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
    return String(scalars[first...last])
}
