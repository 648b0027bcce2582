//! `HLS_WS_CDN_*` (output-layout §14): the HLS WebSocket CDN push, as flags and environment
//! ([`CdnArgs`]) and validated ([`CdnConfig`], which travels to each child in its job document).

use std::time::Duration;

use clap::Args;

use super::env::parse_bool;
use crate::cdn::CdnConfig;
use crate::redact::Secret;

/// The CDN push variables, raw.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "HLS WebSocket CDN push")]
pub struct CdnArgs {
    /// Push every live segment to an HLS WebSocket CDN server (one connection per rendition).
    #[arg(long = "ws-cdn-enabled", value_name = "YES|NO", env = "HLS_WS_CDN_ENABLED", value_parser = parse_bool, action = clap::ArgAction::Set, default_value = "NO")]
    pub enabled: bool,
    /// Space-separated ws:// or wss:// URLs of the CDN servers (one is chosen at random).
    #[arg(long = "ws-cdn-url", value_name = "URLS", env = "HLS_WS_CDN_URL", default_value = "")]
    pub urls: String,
    /// Secret the push tokens (HS256) are signed with; empty sends an empty token.
    #[arg(
        long = "ws-cdn-push-secret",
        value_name = "SECRET",
        env = "HLS_WS_CDN_PUSH_SECRET",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub push_secret: String,
    /// Longest delay of an HLS-LIVE announcement while the push connection opens, seconds.
    #[arg(
        long = "ws-cdn-ready-timeout",
        value_name = "SECONDS",
        env = "HLS_WS_CDN_READY_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub ready_timeout: u64,
}

impl CdnArgs {
    /// `None` when the push is off. Enabled with no URL: a warning, and off (§14). A URL that
    /// is not ws/wss is an error naming the variable.
    pub fn to_config(&self) -> anyhow::Result<Option<CdnConfig>> {
        let args = self;
        if !args.enabled {
            return Ok(None);
        }
        let urls: Vec<String> = args.urls.split_whitespace().map(String::from).collect();
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
        Ok(Some(CdnConfig {
            urls,
            push_secret: Secret::new(args.push_secret.clone()),
            ready_timeout: Duration::from_secs(args.ready_timeout),
        }))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        cdn: CdnArgs,
    }

    fn args(flags: &[&str]) -> CdnArgs {
        Flags::parse_from(std::iter::once("x").chain(flags.iter().copied())).cdn
    }

    #[test]
    fn the_push_is_off_unless_enabled_with_urls() {
        assert_eq!(args(&[]).to_config().unwrap(), None);
        assert_eq!(args(&["--ws-cdn-enabled", "YES"]).to_config().unwrap(), None);
        let on = ["--ws-cdn-enabled", "yes", "--ws-cdn-url", "ws://a:80/  wss://b/x", "--ws-cdn-push-secret", "s"];
        let config = args(&on).to_config().unwrap().unwrap();
        assert_eq!(config.urls, ["ws://a:80/", "wss://b/x"]);
        assert_eq!(config.ready_timeout, Duration::from_secs(10));
        assert!(!format!("{config:?}").contains("\"s\""), "the secret is not shown");
        let bad = ["--ws-cdn-enabled", "YES", "--ws-cdn-url", "http://a/"];
        assert!(args(&bad).to_config().unwrap_err().to_string().contains("HLS_WS_CDN_URL"));
    }
}
