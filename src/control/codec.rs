//! Text framing of the coordinator protocol (spec §2), with no I/O.
//!
//! Parsing mirrors the coordinator's own codec line by line, so that both sides agree on what a
//! frame means even for odd input (blank lines, `\r`, repeated or mixed-case names).

use std::collections::HashMap;

/// Frames larger than this are dropped by the session: real messages are under 1 KiB.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The characters the coordinator trims from methods, names and values.
const TRIMMED: &[char] = &[' ', '\t', '\r', '\n'];

/// One parsed frame: an upper-cased method and its parameters keyed by lower-cased name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    pub method: String,
    params: HashMap<String, String>,
}

impl Frame {
    /// The value of a parameter; names are case-insensitive.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(&name.to_lowercase()).map(String::as_str)
    }

    /// The value of a parameter, or "" when absent (the coordinator's `GetParam`).
    pub fn param_or_empty(&self, name: &str) -> &str {
        self.param(name).unwrap_or("")
    }

    pub fn param_count(&self) -> usize {
        self.params.len()
    }
}

/// Parses one text frame exactly as the coordinator does (spec §2.2).
pub fn parse(text: &str) -> Frame {
    let mut lines = text.split('\n');
    let method = lines.next().map(|l| l.trim_matches(TRIMMED).to_uppercase()).unwrap_or_default();
    let mut params = HashMap::new();
    // Only an exactly empty line starts the body; a lone "\r" is an ignored parameter line.
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some(colon) = line.find(':').filter(|&i| i > 0) else {
            continue;
        };
        let name = line[..colon].trim_matches(TRIMMED).to_lowercase();
        let value = line[colon + 1..].trim_matches(TRIMMED).to_string();
        params.insert(name, value);
    }
    Frame { method, params }
}

/// Emits one frame (spec §2.1): `METHOD\n` then `Name:value\n` per parameter, in the given order,
/// with no blank line and no `\r`. Values are sanitised so free text cannot break the framing.
pub fn emit(method: &str, params: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(16 + params.len() * 32);
    out.push_str(&method.to_uppercase());
    out.push('\n');
    for (name, value) in params {
        out.push_str(name);
        out.push(':');
        out.push_str(&sanitize_value(value));
        out.push('\n');
    }
    out
}

/// Replaces line breaks with spaces and trims, so the coordinator reads back the same value.
fn sanitize_value(value: &str) -> String {
    let flat: String = value.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
    flat.trim_matches(TRIMMED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENCODE_START: &str = "ENCODE-START\n\
        Stream-Channel:mychan\n\
        Stream-ID:0000018f4a2b3c4d00000007a1b2c3d4\n\
        Stream-Source-Type:RTMP\n\
        Stream-Source-URI:rtmp://10.0.0.5:1935/mychan/secretkey\n\
        Resolutions:ORIGINAL,1280x720-30~2000,640x360-30\n\
        Record:True\n\
        Previews:256x144,5\n";

    #[test]
    fn spec_encode_start_example_parses_every_parameter() {
        let f = parse(ENCODE_START);
        assert_eq!(f.method, "ENCODE-START");
        assert_eq!(f.param_count(), 7);
        assert_eq!(f.param("Stream-Channel"), Some("mychan"));
        assert_eq!(f.param("stream-id"), Some("0000018f4a2b3c4d00000007a1b2c3d4"));
        assert_eq!(f.param("Stream-Source-URI"), Some("rtmp://10.0.0.5:1935/mychan/secretkey"));
        assert_eq!(f.param("RESOLUTIONS"), Some("ORIGINAL,1280x720-30~2000,640x360-30"));
        assert_eq!(f.param("Previews"), Some("256x144,5"));
    }

    #[test]
    fn spaced_and_lower_case_names_are_the_same_parameter() {
        let a = parse("encode-stop\nRecord :  true \nstream-channel:c1\n");
        let b = parse("ENCODE-STOP\nrecord:true\nStream-Channel:c1");
        assert_eq!(a, b);
        assert_eq!(a.method, "ENCODE-STOP");
        assert_eq!(a.param("Record"), Some("true"));
    }

    #[test]
    fn method_is_trimmed_of_blanks_and_carriage_return() {
        assert_eq!(parse(" \theartbeat\r\n").method, "HEARTBEAT");
        assert_eq!(parse("").method, "");
    }

    #[test]
    fn value_keeps_colons_after_the_first() {
        let f = parse("X\nStream-Source-URI: ws://[::1]:80/c/k \n");
        assert_eq!(f.param("stream-source-uri"), Some("ws://[::1]:80/c/k"));
    }

    #[test]
    fn last_repeated_name_wins() {
        let f = parse("X\nCapacity:1\ncapacity:2\n");
        assert_eq!(f.param("Capacity"), Some("2"));
    }

    #[test]
    fn lines_without_a_colon_after_position_zero_are_ignored() {
        let f = parse("X\n:nameless\nno colon here\nA:1\n");
        assert_eq!(f.param_count(), 1);
        assert_eq!(f.param("a"), Some("1"));
    }

    #[test]
    fn blank_line_after_method_turns_parameters_into_body() {
        let f = parse("REGISTER\n\nCapacity:-1\n");
        assert_eq!(f.method, "REGISTER");
        assert_eq!(f.param("Capacity"), None);
    }

    #[test]
    fn carriage_return_only_line_is_not_a_separator() {
        let f = parse("REGISTER\r\n\r\nCapacity:-1\r\n");
        assert_eq!(f.method, "REGISTER");
        assert_eq!(f.param("Capacity"), Some("-1"));
    }

    #[test]
    fn parameters_after_the_body_separator_are_ignored() {
        let f = parse("X\nA:1\n\nB:2\n");
        assert_eq!(f.param("a"), Some("1"));
        assert_eq!(f.param("b"), None);
    }

    #[test]
    fn emit_matches_spec_examples() {
        assert_eq!(emit("REGISTER", &[("Capacity", "-1")]), "REGISTER\nCapacity:-1\n");
        assert_eq!(emit("HEARTBEAT", &[]), "HEARTBEAT\n");
    }

    #[test]
    fn emitted_values_cannot_inject_lines() {
        let text = emit("ERROR", &[("Error-Message", "bad\r\n\nStream-ID:x\n")]);
        assert_eq!(text, "ERROR\nError-Message:bad   Stream-ID:x\n");
        assert!(!text.contains('\r'));
        assert_eq!(parse(&text).param_count(), 1);
    }

    #[test]
    fn emit_then_parse_round_trips() {
        let text = emit(
            "STREAM-AVAILABLE",
            &[("Stream-Channel", "c1"), ("Index-file", "hls/c1/id/1280x720-30/live.m3u8"), ("Start-Time", "3.003")],
        );
        let f = parse(&text);
        assert_eq!(f.method, "STREAM-AVAILABLE");
        assert_eq!(f.param("index-file"), Some("hls/c1/id/1280x720-30/live.m3u8"));
        assert_eq!(f.param("START-TIME"), Some("3.003"));
        assert_eq!(emit(&f.method, &[]), "STREAM-AVAILABLE\n");
    }
}
