//! What a file is, from its first bytes, for the error when it is not the
//! token file a command wanted: people hand `codec decode` a WAV file far
//! more often than a damaged token file, and "bad magic" helps neither.

/// Says what a file starting with `start` is, as the reason it is not a
/// token file: its kind and the command that reads it when it is one this
/// project knows, else its first bytes as text or hex.
pub fn describe_not_tokens(start: &[u8]) -> String {
    if start.is_empty() {
        return "not a token file: it is empty".into();
    }
    if let Some((kind, hint)) = recognise(start) {
        return format!("{kind}, not a token file: {hint}");
    }
    let head = &start[..start.len().min(4)];
    format!("not a token file: it starts with {}, a token file with \"CDCT\"", show_bytes(head))
}

/// The kind of file and what to do with it, for the kinds worth naming.
fn recognise(start: &[u8]) -> Option<(&'static str, &'static str)> {
    const AUDIO: &str = "did you mean `codec encode`?";
    const PART: &str = "did you mean `codec detokenize` or `codec stats` (they read token parts)?";
    let kind = match start {
        [b'R', b'I', b'F', b'F' | b'X', ..] | [b'R', b'F', b'6', b'4', ..] => ("a WAV file", AUDIO),
        [b'f', b'L', b'a', b'C', ..] => ("a FLAC file", AUDIO),
        [b'O', b'g', b'g', b'S', ..] => ("an Ogg file", AUDIO),
        // An ID3 tag, or an MPEG audio frame's sync word.
        [b'I', b'D', b'3', ..] => ("an MP3 file", AUDIO),
        [0xff, b, ..] if b & 0xe0 == 0xe0 => ("an MP3 file", AUDIO),
        [b'{', ..] => ("a JSON file (a token part's .jsonl index?)", PART),
        // safetensors: a little-endian u64 header length, then the JSON header.
        [n0, n1, n2, n3, 0, 0, 0, 0, b'{', ..] if u32::from_le_bytes([*n0, *n1, *n2, *n3]) > 1 => {
            ("a safetensors file (a token part's codes?)", PART)
        }
        _ => return None,
    };
    Some(kind)
}

/// `"RIFF"` for printable ASCII, else `bytes 52 49 46 00`.
fn show_bytes(bytes: &[u8]) -> String {
    if !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("\"{}\"", String::from_utf8_lossy(bytes))
    } else {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_files_are_named_with_the_command_that_reads_them() {
        for (start, kind) in [
            (&b"RIFF\x24\0\0\0WAVEfmt "[..], "a WAV file"),
            (b"fLaC\0\0\0\x22", "a FLAC file"),
            (b"OggS\0\x02", "an Ogg file"),
            (b"ID3\x04\0", "an MP3 file"),
            (&[0xff, 0xfb, 0x90, 0x64], "an MP3 file"),
        ] {
            let text = describe_not_tokens(start);
            assert!(text.starts_with(kind), "{text}");
            assert!(text.contains("not a token file") && text.contains("`codec encode`"), "{text}");
        }
    }

    #[test]
    fn token_parts_are_named() {
        let text = describe_not_tokens(b"{\"id\": \"a.wav\", \"frames\": 3}\n");
        assert!(text.contains("JSON") && text.contains("`codec detokenize`"), "{text}");
        let mut safetensors = 64u64.to_le_bytes().to_vec();
        safetensors.extend_from_slice(b"{\"codes\":{\"dtype\":\"U16\"");
        let text = describe_not_tokens(&safetensors);
        assert!(text.contains("safetensors") && text.contains("`codec stats`"), "{text}");
    }

    #[test]
    fn unknown_starts_are_shown_as_text_or_hex_not_decimals() {
        assert_eq!(
            describe_not_tokens(b"CDCX\x01\0"),
            "not a token file: it starts with \"CDCX\", a token file with \"CDCT\""
        );
        assert_eq!(
            describe_not_tokens(&[0x00, 0x1f, 0x80, 0xfe, 0x00]),
            "not a token file: it starts with bytes 00 1f 80 fe, a token file with \"CDCT\""
        );
        assert_eq!(describe_not_tokens(b""), "not a token file: it is empty");
    }
}
