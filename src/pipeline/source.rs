//! What a stream is read from, as the job document names it: the built-in test source, a URL
//! libavformat opens, or a websocket stream server. Pure data; [`super::input`] opens it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::redact::redact_url;

/// How a source's TLS (`rtmps://`, `https://`, `wss://`) is checked (`HLS_SOURCE_TLS_VERIFY`,
/// `HLS_SOURCE_TLS_CA_FILE`). Ingest servers are dialled by IP address, which usual
/// certificates do not name (coordinator-protocol §10.1), so the default is to encrypt only.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceTls {
    /// Check the certificate chain and that it names the host (or IP) dialled.
    pub verify: bool,
    /// PEM file of the authorities the chain must end in, instead of the system's roots.
    pub ca_file: Option<PathBuf>,
}

/// Where a stream comes from. `Debug` never shows a stream key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    TestSrc,
    /// A URL libavformat understands (rtmp, rtmps, http, file path).
    Url {
        url: String,
        tls: SourceTls,
    },
    /// The websocket stream server's `ws://ip:port/{ch}/{key}` (or `wss://`), bridged by
    /// [`super::ws_input`].
    Ws {
        uri: String,
        tls: SourceTls,
    },
}

impl Source {
    pub fn parse(input: &str, tls: &SourceTls) -> Source {
        let lower = input.to_ascii_lowercase();
        if input == "testsrc" {
            Source::TestSrc
        } else if lower.starts_with("ws://") || lower.starts_with("wss://") {
            Source::Ws { uri: input.to_string(), tls: tls.clone() }
        } else {
            Source::Url { url: input.to_string(), tls: tls.clone() }
        }
    }

    /// A source that sends in real time (RTMP, websocket, HTTP streams), as opposed to a file
    /// or the test source, which are read at the pipeline's pace.
    pub fn is_live(&self) -> bool {
        match self {
            Source::TestSrc => false,
            Source::Ws { .. } => true,
            Source::Url { url, .. } => {
                let lower = url.to_ascii_lowercase();
                ["rtmp://", "rtmps://", "rtmpt://", "srt://", "udp://", "rtsp://"].iter().any(|p| lower.starts_with(p))
            }
        }
    }

    /// The URL without its stream key or credentials, for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            Source::TestSrc => "testsrc".to_string(),
            Source::Url { url: u, .. } | Source::Ws { uri: u, .. } if u.contains("://") => redact_url(u),
            // A local file's name is no secret, and the operator needs it.
            Source::Url { url: path, .. } | Source::Ws { uri: path, .. } => path.clone(),
        }
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Source({})", self.redacted())
    }
}
