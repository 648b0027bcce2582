//! Keeping secrets out of logs and messages. A source URI carries the publisher's stream key
//! as its last path segment (coordinator-protocol §10.1), and any URL may carry credentials
//! in its userinfo or query. Every URL that reaches a log line, an event or an
//! `Error-Message` goes through [`redact_url`]; free text that may contain URLs (libav's log,
//! a child's stderr) goes through [`redact_urls`].

/// A credential (storage keys, the CDN push secret). `Debug` and `Display` print
/// `<redacted>`, so every config that holds one can be logged as it is. It serializes as its
/// value: the job document carries it to the child on stdin, never on a command line.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "<empty>" } else { "<redacted>" })
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// The URL with its last path segment (the stream key) replaced by `***`; userinfo, query and
/// fragment are masked too. Text without `://` is treated as a bare path or key.
pub fn redact_url(uri: &str) -> String {
    let end = uri.find(['?', '#']).unwrap_or(uri.len());
    let tail = if end < uri.len() { "?***" } else { "" };
    let (scheme, rest) = match uri[..end].split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), &uri[..end]),
    };
    let (authority, path) =
        if scheme.is_empty() { ("", rest) } else { rest.split_at(rest.find('/').unwrap_or(rest.len())) };
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let body = path.trim_end_matches('/');
    let trailing = &path[body.len()..];
    let path = match body.rfind('/') {
        Some(i) => format!("{}***{trailing}", &body[..=i]),
        None if body.is_empty() => path.to_string(),
        None => format!("***{trailing}"),
    };
    format!("{scheme}{authority}{path}{tail}")
}

/// Every URL (a word containing `://`) in a line of free text, redacted; the rest verbatim.
pub fn redact_urls(line: &str) -> String {
    line.split(' ')
        .map(|word| match word.find("://") {
            // Keep what precedes the scheme ("url='rtmp://…" or "(rtmp://…") as it is.
            Some(at) => {
                let start = word[..at].rfind(|c: char| !c.is_ascii_alphanumeric() && c != '+').map_or(0, |i| i + 1);
                // Punctuation after the URL belongs to the sentence ("…/***: Connection refused").
                let end = word.trim_end_matches([':', ',', ';', ')', '\'', '"']).len().max(at + 3);
                format!("{}{}{}", &word[..start], redact_url(&word[start..end]), &word[end..])
            }
            None => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_masks_the_key_and_other_secret_parts() {
        let cases = [
            ("rtmp://10.0.0.5:1935/mychan/secretkey", "rtmp://10.0.0.5:1935/mychan/***"),
            ("ws://[::1]:80/c1/k3y/", "ws://[::1]:80/c1/***/"),
            ("rtmps://1.2.3.4:443/c/k?cache=clear", "rtmps://1.2.3.4:443/c/***?***"),
            ("rtmp://[::1]:1935/c/k?cache=clear", "rtmp://[::1]:1935/c/***?***"),
            ("rtmp://user:pw@h:1935/c/k", "rtmp://***@h:1935/c/***"),
            ("rtmp://h:1935", "rtmp://h:1935"),
            ("rtmp://host", "rtmp://host"),
            ("justakey", "***"),
            ("", ""),
        ];
        for (uri, want) in cases {
            assert_eq!(redact_url(uri), want, "{uri}");
        }
    }

    #[test]
    fn urls_in_free_text_lose_their_secrets() {
        assert_eq!(
            redact_urls("[rtmp @ 0x5] Cannot open rtmp://10.0.0.5:1935/live/secret now"),
            "[rtmp @ 0x5] Cannot open rtmp://10.0.0.5:1935/live/*** now"
        );
        assert_eq!(redact_urls("url='rtmp://u:p@h/a/k?x=1'"), "url='rtmp://***@h/a/***?***'");
        // A message redacted twice (the child, then the worker) keeps its punctuation.
        let message = "cannot open source rtmps://1.2.3.4:443/c/key: the server's TLS certificate was rejected";
        let once = redact_urls(message);
        assert_eq!(once, "cannot open source rtmps://1.2.3.4:443/c/***: the server's TLS certificate was rejected");
        assert_eq!(redact_urls(&once), once);
        assert_eq!(redact_urls("(rtmp://h/c/k), then"), "(rtmp://h/c/***), then");
        assert_eq!(redact_urls("no url here"), "no url here");
    }
}
