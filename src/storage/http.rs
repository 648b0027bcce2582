//! HTTP backend (§13): `PUT`/`DELETE {base}/{path}` with the table's content headers and the
//! configured `Authorization`.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Client, Method, Url};

use super::backend::Storage;
use super::error::StorageError;
use super::path::StoragePath;
use crate::redact::Secret;
use base64::Engine as _;

/// The `Authorization` header HTTP storage sends (`HLS_STORAGE_HTTP_AUTH`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HttpAuth {
    None,
    /// `Basic base64(user:password)`.
    Basic {
        user: String,
        password: Secret,
    },
    /// `Bearer {token}`.
    Bearer {
        token: Secret,
    },
    /// The full header value, sent as is.
    Custom {
        value: Secret,
    },
}

impl HttpAuth {
    pub(super) fn header_value(&self) -> Result<Option<HeaderValue>, StorageError> {
        let (text, variable) = match self {
            HttpAuth::None => return Ok(None),
            HttpAuth::Basic { user, password } => {
                let pair = format!("{user}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                (format!("Basic {encoded}"), "HLS_STORAGE_HTTP_USER")
            }
            HttpAuth::Bearer { token } => (format!("Bearer {}", token.expose()), "HLS_STORAGE_HTTP_TOKEN"),
            HttpAuth::Custom { value } => (value.expose().to_string(), "HLS_STORAGE_HTTP_AUTH_CUSTOM"),
        };
        let mut header = HeaderValue::from_str(&text).map_err(|_| StorageError::Config {
            variable,
            message: "contains characters not allowed in an HTTP header (e.g. a line break); \
                      fix the value"
                .into(),
        })?;
        header.set_sensitive(true);
        Ok(Some(header))
    }
}

/// §13: "Connect timeout 10 s".
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an error response body is kept for the log line.
const BODY_EXCERPT_CHARS: usize = 200;

/// A storage server reached over HTTP(S). One `reqwest::Client` is shared by every upload, so
/// keep-alive connections are pooled and reused across files and streams.
pub struct HttpStorage {
    client: Client,
    /// Base URL without credentials and without trailing `/`; each path is appended after one `/`.
    base: String,
    /// Sent on every request; marked sensitive so it never shows in debug output.
    authorization: Option<HeaderValue>,
    /// Whole-request bound (`HLS_STORAGE_TIMEOUT_SECONDS`), body upload and response included.
    timeout: Duration,
}

impl HttpStorage {
    /// Validates `base_url` (http or https, a host, no query or fragment) and builds the client.
    /// Credentials embedded in the URL (`https://user:pass@host/`) are used as Basic auth when
    /// `auth` is [`HttpAuth::None`] and otherwise dropped; they never appear in messages.
    pub fn new(base_url: &str, auth: HttpAuth, timeout: Duration) -> Result<Self, StorageError> {
        let (base, url_auth) = parse_base(base_url)?;
        let auth = match auth {
            HttpAuth::None => url_auth,
            explicit => explicit,
        };
        let authorization = auth.header_value()?;
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .user_agent(concat!("hls-ladder-storage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StorageError::Config {
                variable: "HLS_STORAGE_HTTP_URL",
                message: format!("cannot build the HTTP client: {}", e.without_url()),
            })?;
        Ok(HttpStorage { client, base, authorization, timeout })
    }

    /// The URL a path is stored at (never contains credentials).
    pub fn url_for(&self, path: &StoragePath) -> String {
        let mut url = String::with_capacity(self.base.len() + 1 + path.as_str().len());
        url.push_str(&self.base);
        for component in path.as_str().split('/') {
            url.push('/');
            percent_encode_into(component, &mut url);
        }
        url
    }

    /// Sends one request and reads the whole response body, so the connection goes back to the
    /// pool. Returns the status and the start of the body.
    async fn send(
        &self,
        method: Method,
        url: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<(u16, String), StorageError> {
        let verb = method_name(&method);
        let transport = |e: reqwest::Error| self.transport_error(verb, url, e);
        let mut request = self.client.request(method, url);
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let response = build(request).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        Ok((status, excerpt(&body)))
    }

    fn transport_error(&self, method: &'static str, url: &str, err: reqwest::Error) -> StorageError {
        if err.is_timeout() {
            let after = if err.is_connect() { CONNECT_TIMEOUT.min(self.timeout) } else { self.timeout };
            StorageError::Timeout { method, url_without_credentials: url.to_string(), after }
        } else {
            StorageError::Network { method, url_without_credentials: url.to_string(), source: err.without_url() }
        }
    }
}

#[async_trait::async_trait]
impl Storage for HttpStorage {
    async fn put(&self, path: &StoragePath, body: Bytes) -> Result<(), StorageError> {
        let url = self.url_for(path);
        let length = body.len();
        let (status, text) = self
            .send(Method::PUT, &url, |r| {
                r.header(CONTENT_TYPE, path.content_type())
                    .header(CACHE_CONTROL, path.cache_control())
                    .header(CONTENT_LENGTH, length)
                    .body(body)
            })
            .await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(http_error("PUT", status, url, text))
        }
    }

    async fn delete(&self, path: &StoragePath) -> Result<(), StorageError> {
        let url = self.url_for(path);
        let (status, text) = self.send(Method::DELETE, &url, |r| r).await?;
        if (200..300).contains(&status) || status == 404 || status == 410 {
            Ok(())
        } else {
            Err(http_error("DELETE", status, url, text))
        }
    }

    fn describe(&self) -> String {
        format!("HTTP {}", self.base)
    }
}

impl std::fmt::Debug for HttpStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpStorage")
            .field("base", &self.base)
            .field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn http_error(method: &'static str, status: u16, url: String, body: String) -> StorageError {
    StorageError::Http { method, status, url_without_credentials: url, body }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "request",
    }
}

/// Splits credentials off the base URL and checks what the rest of the code relies on.
pub(super) fn parse_base(raw: &str) -> Result<(String, HttpAuth), StorageError> {
    let invalid =
        |message: &str| StorageError::Config { variable: "HLS_STORAGE_HTTP_URL", message: message.to_string() };
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        invalid(&format!(
            "not a valid URL ({e}); set it to the storage base URL, e.g. https://storage.example/hls-root"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment: file paths are appended to it"));
    }
    let auth = if url.username().is_empty() {
        HttpAuth::None
    } else {
        HttpAuth::Basic {
            user: percent_decode(url.username()),
            password: Secret::new(url.password().map(percent_decode).unwrap_or_default()),
        }
    };
    // Cannot fail for http(s) URLs with a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let base = url.as_str().trim_end_matches('/').to_string();
    Ok((base, auth))
}

/// Percent-encodes everything but RFC 3986 unreserved characters. Layout names are already
/// unreserved, so real paths pass unchanged; odd ones cannot break the URL.
fn percent_encode_into(component: &str, out: &mut String) {
    for byte in component.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The start of a response body as one printable line.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(BODY_EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(base: &str) -> HttpStorage {
        HttpStorage::new(base, HttpAuth::None, Duration::from_secs(1)).unwrap()
    }

    fn url(base: &str, path: &str) -> String {
        storage(base).url_for(&StoragePath::new(path).unwrap())
    }

    #[test]
    fn exactly_one_slash_joins_base_and_path_and_the_base_path_is_kept() {
        assert_eq!(url("http://h:8080", "a/b.ts"), "http://h:8080/a/b.ts");
        assert_eq!(url("http://h:8080/", "a/b.ts"), "http://h:8080/a/b.ts");
        assert_eq!(url("https://h/root/x", "a.ts"), "https://h/root/x/a.ts");
        assert_eq!(url("https://h/root/x//", "a.ts"), "https://h/root/x/a.ts");
    }

    #[test]
    fn odd_characters_in_names_are_percent_encoded() {
        assert_eq!(url("http://h", "a b/c?d#e%.ts"), "http://h/a%20b/c%3Fd%23e%25.ts");
        assert_eq!(url("http://h", "hls/c-1/x_y/1281x721-30/0.ts"), "http://h/hls/c-1/x_y/1281x721-30/0.ts");
    }

    #[test]
    fn credentials_in_the_url_become_basic_auth_and_leave_every_message() {
        let s = storage("https://us%40er:p%3Ass@h/base");
        assert_eq!(s.describe(), "HTTP https://h/base");
        let debug = format!("{s:?}");
        assert!(!debug.contains("p%3Ass") && !debug.contains("p:ss"), "{debug}");
        // base64("us@er:p:ss")
        assert_eq!(s.authorization.unwrap().to_str().unwrap(), "Basic dXNAZXI6cDpzcw==");
    }

    #[test]
    fn unusable_base_urls_are_configuration_errors() {
        for bad in ["", "ftp://h/x", "http://h/x?sig=1", "http://h/x#f", "not a url", "http://"] {
            let err = HttpStorage::new(bad, HttpAuth::None, Duration::from_secs(1)).unwrap_err();
            assert!(matches!(err, StorageError::Config { variable: "HLS_STORAGE_HTTP_URL", .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn response_excerpts_are_one_short_printable_line() {
        assert_eq!(excerpt(b"  bad\r\nthing\x00 "), "bad  thing");
        assert_eq!(excerpt(&[b'x'; 1000]).len(), BODY_EXCERPT_CHARS);
    }
}
