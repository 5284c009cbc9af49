// fuzz-json — RTX's JSON parser (config.json, tokenizer.json, safetensors headers,
// request bodies) and the Hugging Face config interpretation on what it parses.
import FuzzSupport
import RTX

Fuzz.run { bytes in
    Fuzz.expectingErrors {
        let value = try JSON.parse(bytes, source: "fuzz.json")
        _ = try HFConfig(json: value, source: "fuzz.json")
    }
}
