//! A strict WebVTT parser (W3C WebVTT, "file" and "cue" syntax), written for these tests so a
//! thumbnail track is judged by the rules players follow, not by the writer's own code. It
//! accepts only valid files: a `WEBVTT` signature, blocks separated by blank lines, cue
//! timings `[HH:]MM:SS.mmm --> [HH:]MM:SS.mmm` with minutes and seconds under 60, an end
//! after the start, start times in order, and no `-->` in a payload.

/// One cue: times in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub id: Option<String>,
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// The cues of a WebVTT file, or what makes it invalid.
pub fn parse(text: &str) -> Result<Vec<Cue>, String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut blocks = text.split("\n\n").map(|b| b.trim_matches('\n')).filter(|b| !b.is_empty());
    let header = blocks.next().ok_or("empty file")?;
    let signature = header.lines().next().unwrap_or_default();
    let valid_signature =
        signature == "WEBVTT" || signature.strip_prefix("WEBVTT").is_some_and(|rest| rest.starts_with([' ', '\t']));
    if !valid_signature {
        return Err(format!("the first line is {signature:?}, not the WEBVTT signature"));
    }
    if header.contains("-->") {
        return Err("a cue in the header block (no blank line after the signature)".into());
    }
    let mut cues: Vec<Cue> = Vec::new();
    for block in blocks {
        let mut lines = block.lines();
        let first = lines.next().unwrap_or_default();
        let (id, timing) = if first.contains("-->") {
            (None, first)
        } else {
            (Some(first.to_string()), lines.next().ok_or_else(|| format!("block without cue timings: {block:?}"))?)
        };
        let (start, rest) = timing.split_once(" --> ").ok_or_else(|| format!("bad timing line {timing:?}"))?;
        let end = rest.split([' ', '\t']).next().unwrap_or_default();
        let (start_ms, end_ms) = (timestamp(start)?, timestamp(end)?);
        if end_ms <= start_ms {
            return Err(format!("cue ends before it starts: {timing:?}"));
        }
        if cues.last().is_some_and(|c| c.start_ms > start_ms) {
            return Err(format!("cue start times go back at {timing:?}"));
        }
        let payload: Vec<&str> = lines.collect();
        if payload.iter().any(|l| l.contains("-->")) {
            return Err(format!("`-->` in a cue payload: {block:?}"));
        }
        cues.push(Cue { id, start_ms, end_ms, text: payload.join("\n") });
    }
    Ok(cues)
}

/// `[HH:]MM:SS.mmm`: hours two or more digits, minutes and seconds two digits under 60,
/// three digits of milliseconds.
fn timestamp(s: &str) -> Result<u64, String> {
    let bad = || format!("bad timestamp {s:?}");
    let (clock, millis) = s.split_once('.').ok_or_else(bad)?;
    let parts: Vec<&str> = clock.split(':').collect();
    let digits = |p: &str, len: Option<usize>| {
        let ok = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && len.is_none_or(|n| p.len() == n);
        ok.then(|| p.parse::<u64>().ok()).flatten().ok_or_else(bad)
    };
    let (hours, minutes, seconds) = match parts.as_slice() {
        [m, s] => (0, digits(m, Some(2))?, digits(s, Some(2))?),
        [h, m, s] if h.len() >= 2 => (digits(h, None)?, digits(m, Some(2))?, digits(s, Some(2))?),
        _ => return Err(bad()),
    };
    if minutes > 59 || seconds > 59 {
        return Err(bad());
    }
    Ok(((hours * 60 + minutes) * 60 + seconds) * 1000 + digits(millis, Some(3))?)
}
