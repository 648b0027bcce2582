//! The control URL dialled from `CONTROL_BASE_URL` (spec §1.1).

use url::Url;

use crate::control::ControlError;

/// The path the coordinator compares byte for byte with the request target.
pub const CONTROL_PATH: &str = "/ws/control/hls";

/// Builds the URL to dial: scheme, host and port of `base`; path replaced by `/ws/control/hls`
/// (or appended to the base path with `keep_path`); userinfo, query and fragment dropped, because
/// the coordinator answers 404 to any request target that is not exactly the control path.
pub fn control_url(base: &str, keep_path: bool) -> Result<Url, ControlError> {
    let invalid = |reason: String| ControlError::InvalidUrl { url: base.to_string(), reason };
    let trimmed = base.trim();
    if trimmed.is_empty() {
        return Err(invalid("CONTROL_BASE_URL is empty".into()));
    }
    let parsed = Url::parse(trimmed).map_err(|e| invalid(e.to_string()))?;
    let scheme = match parsed.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => return Err(invalid(format!("scheme {other:?} is not ws, wss, http or https"))),
    };
    let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or_else(|| invalid("no host".into()))?;
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let prefix = if keep_path { parsed.path().trim_end_matches('/') } else { "" };
    let text = format!("{scheme}://{host}{port}{prefix}{CONTROL_PATH}");
    Url::parse(&text).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialled(base: &str, keep_path: bool) -> String {
        control_url(base, keep_path).unwrap_or_else(|e| panic!("{base}: {e}")).to_string()
    }

    #[test]
    fn spec_table_rows() {
        assert_eq!(dialled("ws://coord:8080", false), "ws://coord:8080/ws/control/hls");
        assert_eq!(dialled("wss://coord.example/x/", false), "wss://coord.example/ws/control/hls");
        assert_eq!(dialled("ws://coord/?k=v", false), "ws://coord/ws/control/hls");
    }

    #[test]
    fn request_target_is_exactly_the_control_path() {
        let url = control_url("ws://127.0.0.1:9/prefix/?x=1#frag", false).unwrap();
        assert_eq!(url.path(), CONTROL_PATH);
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
    }

    #[test]
    fn userinfo_is_dropped() {
        assert_eq!(dialled("ws://u:p@coord:1/", false), "ws://coord:1/ws/control/hls");
    }

    #[test]
    fn http_schemes_are_aliases() {
        assert_eq!(dialled("http://coord:8080", false), "ws://coord:8080/ws/control/hls");
        assert_eq!(dialled("https://coord", false), "wss://coord/ws/control/hls");
        assert_eq!(dialled("HTTPS://coord:443/", false), "wss://coord/ws/control/hls");
    }

    #[test]
    fn keep_path_appends_to_the_base_path() {
        assert_eq!(dialled("wss://coord.example/x/", true), "wss://coord.example/x/ws/control/hls");
        assert_eq!(dialled("ws://c/a/b?q=1", true), "ws://c/a/b/ws/control/hls");
        assert_eq!(dialled("ws://c", true), "ws://c/ws/control/hls");
        assert_eq!(dialled("ws://c/", true), "ws://c/ws/control/hls");
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        assert_eq!(dialled("ws://[::1]:8080/", false), "ws://[::1]:8080/ws/control/hls");
    }

    #[test]
    fn unusable_urls_are_clear_errors() {
        for bad in ["", "   ", "coord:8080", "127.0.0.1:8080", "ftp://coord/", "ws://", "not a url"] {
            let err = control_url(bad, false).expect_err(bad);
            let text = err.to_string();
            assert!(text.contains("CONTROL_BASE_URL"), "{bad}: {text}");
        }
    }
}
