//! `HLS_WS_CDN_*` (output-layout §14): the HLS WebSocket CDN push settings.

use std::time::Duration;

use super::parse_bool;

/// `HLS_WS_CDN_*`, read by each transcode from its environment (the push secret never
/// appears on a command line).
#[derive(Clone, PartialEq, Eq)]
pub struct CdnConfig {
    /// `HLS_WS_CDN_URL`, space-separated ws(s) URLs.
    pub urls: Vec<String>,
    /// `HLS_WS_CDN_PUSH_SECRET`; empty: an empty token.
    pub push_secret: String,
    /// `HLS_WS_CDN_READY_TIMEOUT_SECONDS`: longest delay of an HLS-LIVE announcement.
    pub ready_timeout: Duration,
}

impl std::fmt::Debug for CdnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CdnConfig")
            .field("urls", &self.urls)
            .field("push_secret", &if self.push_secret.is_empty() { "<empty>" } else { "<redacted>" })
            .field("ready_timeout", &self.ready_timeout)
            .finish()
    }
}

impl CdnConfig {
    /// `None` when the push is off. Enabled with no URL: a warning, and off (§14). A URL that
    /// is not ws/wss is an error naming the variable.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<CdnConfig>> {
        let enabled = get("HLS_WS_CDN_ENABLED").map(|v| parse_bool(&v)).transpose();
        let enabled = enabled.map_err(|e| anyhow::anyhow!("HLS_WS_CDN_ENABLED: {e}"))?.unwrap_or(false);
        if !enabled {
            return Ok(None);
        }
        let urls: Vec<String> =
            get("HLS_WS_CDN_URL").unwrap_or_default().split_whitespace().map(String::from).collect();
        if urls.is_empty() {
            tracing::warn!("HLS_WS_CDN_ENABLED=YES but HLS_WS_CDN_URL is empty: the CDN push is off");
            return Ok(None);
        }
        for url in &urls {
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            anyhow::ensure!(
                matches!(scheme.as_deref(), Some("ws" | "wss")),
                "HLS_WS_CDN_URL: {url:?} is not a ws:// or wss:// URL"
            );
        }
        let timeout = get("HLS_WS_CDN_READY_TIMEOUT_SECONDS").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(10);
        Ok(Some(CdnConfig {
            urls,
            push_secret: get("HLS_WS_CDN_PUSH_SECRET").unwrap_or_default(),
            ready_timeout: Duration::from_secs(timeout),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_push_is_off_unless_enabled_with_urls() {
        assert_eq!(CdnConfig::from_env(env(&[])).unwrap(), None);
        assert_eq!(CdnConfig::from_env(env(&[("HLS_WS_CDN_ENABLED", "YES")])).unwrap(), None);
        let on = [
            ("HLS_WS_CDN_ENABLED", "yes"),
            ("HLS_WS_CDN_URL", "ws://a:80/  wss://b/x"),
            ("HLS_WS_CDN_PUSH_SECRET", "s"),
        ];
        let config = CdnConfig::from_env(env(&on)).unwrap().unwrap();
        assert_eq!(config.urls, ["ws://a:80/", "wss://b/x"]);
        assert_eq!(config.ready_timeout, Duration::from_secs(10));
        assert!(!format!("{config:?}").contains("\"s\""), "the secret is not shown");
        let bad = [("HLS_WS_CDN_ENABLED", "YES"), ("HLS_WS_CDN_URL", "http://a/")];
        assert!(CdnConfig::from_env(env(&bad)).unwrap_err().to_string().contains("HLS_WS_CDN_URL"));
    }
}
