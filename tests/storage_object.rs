//! S3 storage against a real S3-compatible server (moto, `pip install 'moto[server]'`) and, for
//! failure handling, against the scripted loopback server used as an S3 endpoint.

pub mod support;

use support::storage_server::path;

use support::storage_server;

use std::collections::HashMap;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hls_ladder::storage::{put_with_retry, ObjectStorage, RetryPolicy, Secret, Storage, StorageConfig, StorageError};
use object_store::aws::AmazonS3Builder;
use support::storage_server::{Reply, Server};

/// One moto server per test binary, started on first use.
fn moto_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let port = storage_server::start_service("moto (pip install 'moto[server]')", |port| {
            let mut command = Command::new("python3");
            command.args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        });
        format!("http://127.0.0.1:{port}")
    })
}

fn s3_config(endpoint: &str, bucket: &str, timeout: Duration) -> StorageConfig {
    StorageConfig::S3 {
        bucket: bucket.into(),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some(Secret::new("testing")),
        options: vec![],
        timeout,
    }
}

/// A fresh bucket on moto (moto accepts unsigned bucket creation).
async fn moto_bucket(name: &str) -> StorageConfig {
    let endpoint = moto_endpoint();
    let response = reqwest::Client::new().put(format!("{endpoint}/{name}")).send().await.unwrap();
    assert!(response.status().is_success(), "create bucket: {}", response.status());
    s3_config(endpoint, name, Duration::from_secs(10))
}

/// An independent client of the same moto bucket.
fn independent_client(bucket: &str) -> impl object_store::ObjectStore {
    AmazonS3Builder::new()
        .with_endpoint(moto_endpoint())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(bucket)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap()
}

/// Reads an object back with an independent client: its bytes, content type and cache control.
async fn read_back(bucket: &str, key: &str) -> (Bytes, String, String) {
    storage_server::read_object(&independent_client(bucket), key).await
}

#[tokio::test]
async fn s3_put_stores_the_body_with_the_tables_content_type_and_cache_control() {
    let storage = ObjectStorage::new(&moto_bucket("media-put").await).unwrap();
    let cases = [
        ("hls/c/s/720p/0.ts", "video/mp2t", "max-age=31536000"),
        ("hls/c/s/720p/live.m3u8", "application/vnd.apple.mpegurl", "no-cache"),
        ("img-preview/c/s/256x144-2/0.jpg", "image/jpeg", "max-age=31536000"),
        ("img-preview/c/s/256x144-2/index.json", "application/json", "no-cache"),
        ("img-preview/c/s/256x144-2/thumbnails.vtt", "text/vtt", "no-cache"),
    ];
    for (key, content_type, cache) in cases {
        let body = Bytes::from(format!("body of {key}"));
        storage.put(&path(key), body.clone()).await.unwrap();
        assert_eq!(read_back("media-put", key).await, (body, content_type.into(), cache.into()));
    }
    assert_eq!(storage.describe(), format!("S3 bucket media-put ({})", moto_endpoint()));
}

#[tokio::test]
async fn s3_delete_removes_the_object_and_a_missing_object_counts_as_success() {
    let storage = ObjectStorage::new(&moto_bucket("media-delete").await).unwrap();
    let other = independent_client("media-delete");
    storage.put(&path("x/0.ts"), Bytes::from_static(b"1")).await.unwrap();
    storage.put(&path("x/1.ts"), Bytes::from_static(b"2")).await.unwrap();
    assert!(storage_server::object_exists(&other, "x/0.ts").await);
    storage.delete(&path("x/0.ts")).await.unwrap();
    assert!(!storage_server::object_exists(&other, "x/0.ts").await, "the deleted object is gone");
    assert!(storage_server::object_exists(&other, "x/1.ts").await, "only that object");
    storage.delete(&path("x/0.ts")).await.unwrap();
    storage.delete(&path("never/was.ts")).await.unwrap();
}

#[tokio::test]
async fn s3_put_into_a_missing_bucket_fails_at_once_and_says_what_to_check() {
    let config = s3_config(moto_endpoint(), "no-such-bucket", Duration::from_secs(10));
    let storage = ObjectStorage::new(&config).unwrap();
    let start = Instant::now();
    let err = put_with_retry(&storage, &path("a.ts"), Bytes::from_static(b"1"), &RetryPolicy::default(), None)
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5), "retried: {err}");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("check that the bucket"), "{err}");
}

#[tokio::test]
async fn s3_configured_from_the_environment_stores_files() {
    moto_bucket("media-env").await;
    let vars: HashMap<&str, String> = [
        ("HLS_STORAGE_TYPE", "s3".to_string()),
        ("AWS_S3_BUCKET", "media-env".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", moto_endpoint().into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ]
    .into_iter()
    .collect();
    let storage = StorageConfig::from_env(|k| vars.get(k).cloned()).unwrap().build().unwrap();
    storage.put(&path("hls/m.m3u8"), Bytes::from_static(b"#EXTM3U\n")).await.unwrap();
    let (body, content_type, _) = read_back("media-env", "hls/m.m3u8").await;
    assert_eq!((&body[..], content_type.as_str()), (&b"#EXTM3U\n"[..], "application/vnd.apple.mpegurl"));
}

#[tokio::test]
async fn s3_server_errors_are_retried_and_client_errors_are_not() {
    let server = Server::start().await;
    let storage = ObjectStorage::new(&s3_config(&server.url(""), "b", Duration::from_secs(5))).unwrap();
    let policy = RetryPolicy {
        deadline: Duration::from_secs(5),
        first: Duration::from_millis(20),
        max: Duration::from_millis(100),
    };

    server.script("/b/seg/1.ts", &[Reply::Status(503)]);
    put_with_retry(&storage, &path("seg/1.ts"), Bytes::from_static(b"seg"), &policy, None).await.unwrap();
    assert_eq!(server.object("/b/seg/1.ts").unwrap(), "seg");
    let last = server.log().pop().unwrap();
    assert_eq!(last.headers.get("content-type").unwrap(), "video/mp2t");
    assert_eq!(last.headers.get("cache-control").unwrap(), "max-age=31536000");
    assert!(last.headers.get("authorization").unwrap().to_str().unwrap().starts_with("AWS4-HMAC-SHA256"));

    for status in [400, 403] {
        let key = format!("seg/{status}.ts");
        server.script(&format!("/b/{key}"), &[Reply::Status(status), Reply::Status(status)]);
        let before = server.log().len();
        let err = put_with_retry(&storage, &path(&key), Bytes::from_static(b"1"), &policy, None).await.unwrap_err();
        assert!(matches!(err, StorageError::Object { retryable: false, .. }), "{status}: {err}");
        assert_eq!(server.log().len(), before + 1, "{status} was retried");
        assert!(!format!("{err} {err:?}").contains("testing"), "{err}");
    }
}

#[tokio::test]
async fn s3_stalled_server_times_out_with_a_retryable_error() {
    let server = Server::start().await;
    let storage = ObjectStorage::new(&s3_config(&server.url(""), "b", Duration::from_millis(300))).unwrap();
    server.script("/b/slow.ts", &[Reply::Stall(Duration::from_secs(3))]);
    let start = Instant::now();
    let err = storage.put(&path("slow.ts"), Bytes::from_static(b"1")).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(1500), "{:?}", start.elapsed());
    assert!(err.is_retryable(), "{err}");
}
