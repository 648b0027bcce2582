//! HTTP storage against a real HTTP/1.1 server on loopback (output-layout §13).

pub mod support;

use support::storage_server::path;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hls_ladder::storage::{
    put_with_retry, HttpAuth, HttpStorage, RetryPolicy, Secret, Storage, StorageConfig, StorageError,
};
use support::storage_server::{Recorded, Reply, Server};

fn http(server: &Server, auth: HttpAuth) -> HttpStorage {
    HttpStorage::new(&server.url("/root/sub/"), auth, Duration::from_secs(5)).unwrap()
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy { deadline: Duration::from_secs(5), first: Duration::from_millis(20), max: Duration::from_millis(100) }
}

fn header<'a>(r: &'a Recorded, name: &str) -> Option<&'a str> {
    r.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn put_sends_content_type_cache_control_and_length_per_extension_under_the_base_path() {
    let server = Server::start().await;
    let storage = http(&server, HttpAuth::None);
    let cases = [
        ("hls/c/s/720p/live.m3u8", "application/vnd.apple.mpegurl", "no-cache"),
        ("img-preview/c/s/256x144-2/index.json", "application/json", "no-cache"),
        ("img-preview/c/s/256x144-2/thumbnails.vtt", "text/vtt", "no-cache"),
        ("hls/c/s/720p/0.ts", "video/mp2t", "max-age=31536000"),
        ("img-preview/c/s/256x144-2/0.jpg", "image/jpeg", "max-age=31536000"),
        ("misc/blob.bin", "application/octet-stream", "max-age=31536000"),
    ];
    for (i, (p, _, _)) in cases.iter().enumerate() {
        storage.put(&path(p), Bytes::from(vec![b'x'; i * 10])).await.unwrap();
    }
    let log = server.log();
    for (i, (p, content_type, cache)) in cases.iter().enumerate() {
        let r = &log[i];
        assert_eq!(r.method, "PUT");
        assert_eq!(r.path, format!("/root/sub/{p}"));
        assert_eq!(header(r, "content-type"), Some(*content_type), "{p}");
        assert_eq!(header(r, "cache-control"), Some(*cache), "{p}");
        assert_eq!(header(r, "content-length"), Some(&*(i * 10).to_string()), "{p}");
        assert_eq!(header(r, "authorization"), None);
        assert_eq!(server.object(&r.path).unwrap().len(), i * 10);
    }
}

/// Builds HTTP storage the way the worker does: from environment variables.
fn from_env(server: &Server, vars: &[(&str, &str)]) -> Arc<dyn Storage> {
    let url = server.url("/up");
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.replace("{url}", &url))).collect();
    StorageConfig::from_env(|k| vars.get(k).cloned()).unwrap().build().unwrap()
}

/// Extra environment variables for one case.
type Vars<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn each_auth_variant_sends_its_authorization_header() {
    let server = Server::start().await;
    let variants: [(Vars, Option<&str>); 5] = [
        (&[("HLS_STORAGE_HTTP_URL", "{url}")], None),
        (
            &[
                ("HLS_STORAGE_HTTP_AUTH", "basic"),
                ("HLS_STORAGE_HTTP_USER", "Aladdin"),
                ("HLS_STORAGE_HTTP_PASSWORD", "open sesame"),
            ],
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ),
        (&[("HLS_STORAGE_HTTP_AUTH", "Bearer"), ("HLS_STORAGE_HTTP_TOKEN", "tok.en")], Some("Bearer tok.en")),
        (&[("HLS_STORAGE_HTTP_AUTH", "CUSTOM"), ("HLS_STORAGE_HTTP_AUTH_CUSTOM", "ApiKey k=1")], Some("ApiKey k=1")),
        (
            &[("HLS_STORAGE_HTTP_URL", "http://Aladdin:open%20sesame@{host}/up")],
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ),
    ];
    for (i, (vars, expected)) in variants.iter().enumerate() {
        let host = server.addr.to_string();
        let mut all: Vec<(&str, String)> =
            vec![("HLS_STORAGE_TYPE", "HTTP".into()), ("HLS_STORAGE_HTTP_URL", "{url}".into())];
        all.extend(vars.iter().map(|(k, v)| (*k, v.replace("{host}", &host))));
        let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let storage = from_env(&server, &all);
        storage.put(&path(&format!("a/{i}.ts")), Bytes::from_static(b"1")).await.unwrap();
        let log = server.log();
        let r = log.last().unwrap();
        assert_eq!(r.path, format!("/up/a/{i}.ts"));
        assert_eq!(r.headers.get_all("authorization").iter().count(), expected.iter().count());
        assert_eq!(header(r, "authorization"), *expected, "variant {i}");
        assert!(!storage.describe().contains("sesame"), "{}", storage.describe());
    }
}

#[tokio::test]
async fn any_2xx_answer_counts_as_stored() {
    let server = Server::start().await;
    let storage = http(&server, HttpAuth::None);
    for status in [200, 201, 202, 204] {
        let p = format!("s/{status}.ts");
        server.script(&format!("/root/sub/{p}"), &[Reply::Status(status)]);
        storage.put(&path(&p), Bytes::from_static(b"1")).await.unwrap();
    }
}

#[tokio::test]
async fn a_500_is_retried_by_put_with_retry_and_the_file_is_stored() {
    let server = Server::start().await;
    let storage = http(&server, HttpAuth::None);
    server.script("/root/sub/hls/1.ts", &[Reply::Status(500), Reply::Status(503)]);
    put_with_retry(&storage, &path("hls/1.ts"), Bytes::from_static(b"seg"), &fast_retries(), None).await.unwrap();
    assert_eq!(server.log().len(), 3);
    assert_eq!(server.object("/root/sub/hls/1.ts").unwrap(), "seg");
}

#[tokio::test]
async fn a_403_is_not_retried_and_the_message_says_what_to_check() {
    let server = Server::start().await;
    let token = "s3cr3t-token";
    let storage = http(&server, HttpAuth::Bearer { token: Secret::new(token) });
    server.script("/root/sub/x.ts", &[Reply::Status(403), Reply::Status(403)]);
    let err =
        put_with_retry(&storage, &path("x.ts"), Bytes::from_static(b"1"), &fast_retries(), None).await.unwrap_err();
    assert!(matches!(err, StorageError::Http { status: 403, .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(server.log().len(), 1);
    let text = err.to_string();
    assert!(text.contains("scripted failure 403"), "{text}");
    assert!(text.contains("HLS_STORAGE_HTTP_AUTH"), "{text}");
    assert!(!text.contains(token) && !format!("{err:?}{storage:?}").contains(token));
}

#[tokio::test]
async fn delete_accepts_2xx_404_and_410_and_reports_other_failures() {
    let server = Server::start().await;
    let storage = http(&server, HttpAuth::None);
    storage.put(&path("d/0.ts"), Bytes::from_static(b"1")).await.unwrap();
    storage.delete(&path("d/0.ts")).await.unwrap();
    assert!(server.object("/root/sub/d/0.ts").is_none());
    storage.delete(&path("d/0.ts")).await.unwrap(); // 404
    server.script("/root/sub/d/1.ts", &[Reply::Status(410), Reply::Status(500)]);
    storage.delete(&path("d/1.ts")).await.unwrap();
    let err = storage.delete(&path("d/1.ts")).await.unwrap_err();
    assert!(matches!(err, StorageError::Http { method: "DELETE", status: 500, .. }));
    assert!(err.is_retryable());
    let methods: Vec<String> = server.log().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["PUT", "DELETE", "DELETE", "DELETE", "DELETE"]);
}

#[tokio::test]
async fn a_stalled_server_times_out_with_a_retryable_error() {
    let server = Server::start().await;
    let storage = HttpStorage::new(&server.url(""), HttpAuth::None, Duration::from_millis(300)).unwrap();
    server.script("/slow.ts", &[Reply::Stall(Duration::from_secs(3))]);
    let start = Instant::now();
    let err = storage.put(&path("slow.ts"), Bytes::from_static(b"1")).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(1500), "{:?}", start.elapsed());
    assert!(matches!(err, StorageError::Timeout { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("HLS_STORAGE_TIMEOUT_SECONDS"), "{err}");
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_network_error_without_credentials() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://user:pa55word@127.0.0.1:{port}/base");
    let storage = HttpStorage::new(&url, HttpAuth::None, Duration::from_secs(2)).unwrap();
    let err = storage.put(&path("a.ts"), Bytes::from_static(b"1")).await.unwrap_err();
    assert!(matches!(err, StorageError::Network { .. }), "{err}");
    assert!(err.is_retryable());
    let text = format!("{err} {err:?}");
    assert!(!text.contains("pa55word"), "{text}");
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
    assert!(text.contains(&format!("http://127.0.0.1:{port}/base/a.ts")), "{text}");
}

#[tokio::test]
async fn error_bodies_are_drained_so_the_connection_is_reused() {
    let server = Server::start().await;
    let storage = http(&server, HttpAuth::None);
    server.script("/root/sub/k.ts", &[Reply::Status(500)]);
    storage.put(&path("k.ts"), Bytes::from_static(b"1")).await.unwrap_err();
    storage.put(&path("k.ts"), Bytes::from_static(b"1")).await.unwrap();
    storage.delete(&path("k.ts")).await.unwrap();
    let peers: Vec<SocketAddr> = server.log().into_iter().map(|r| r.peer).collect();
    assert_eq!(peers.len(), 3);
    assert!(peers.iter().all(|p| *p == peers[0]), "{peers:?}");
}

#[tokio::test]
async fn an_empty_body_is_sent_with_content_length_zero() {
    let server = Server::start().await;
    let storage = http(&server, HttpAuth::None);
    storage.put(&path("e/empty.json"), Bytes::new()).await.unwrap();
    assert_eq!(header(&server.log()[0], "content-length"), Some("0"));
    assert_eq!(server.object("/root/sub/e/empty.json").unwrap().len(), 0);
}
