//! Azure Blob storage against Azurite (`npm install -g azurite`), and the client-secret
//! credential flow against the scripted loopback server acting as Entra ID and Blob service.

pub mod support;

use support::storage_server::path;

use support::storage_server;

use std::collections::HashMap;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use hls_ladder::storage::{put_with_retry, ObjectStorage, RetryPolicy, Secret, Storage, StorageConfig};
use object_store::azure::MicrosoftAzureBuilder;
use support::storage_server::{Reply, Server};

/// Azurite's fixed development account (public, documented emulator credentials).
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// One Azurite blob service per test binary; its account endpoint (path style).
fn azurite_account_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let port = storage_server::start_service("Azurite (npm install -g azurite)", |port| {
            let mut command = Command::new("azurite-blob");
            command.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()]);
            command.args(["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose"]);
            command
        });
        format!("http://127.0.0.1:{port}/{ACCOUNT}")
    })
}

/// Creates a container with a SharedKey-signed request: `object_store` has no call for it.
async fn create_container(name: &str) {
    let date = httpdate::fmt_http_date(SystemTime::now());
    let version = "2021-08-06";
    let string_to_sign = format!(
        "PUT\n{}x-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container",
        "\n".repeat(11)
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &b64.decode(ACCOUNT_KEY).unwrap());
    let signature = b64.encode(aws_lc_rs::hmac::sign(&key, string_to_sign.as_bytes()));
    let response = reqwest::Client::new()
        .put(format!("{}/{name}?restype=container", azurite_account_url()))
        .header("x-ms-date", date)
        .header("x-ms-version", version)
        .header("authorization", format!("SharedKey {ACCOUNT}:{signature}"))
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(status.is_success(), "create container: {status} {}", response.text().await.unwrap());
}

fn azurite_config(container: &str) -> StorageConfig {
    StorageConfig::Azure {
        account: ACCOUNT.into(),
        container: container.into(),
        tenant_id: None,
        client_id: None,
        client_secret: None,
        options: vec![
            ("AZURE_STORAGE_ACCOUNT_KEY", Secret::new(ACCOUNT_KEY)),
            ("AZURE_STORAGE_ENDPOINT", Secret::new(azurite_account_url())),
        ],
        timeout: Duration::from_secs(10),
    }
}

/// An independent client of the same Azurite container.
fn independent_client(container: &str) -> impl object_store::ObjectStore {
    MicrosoftAzureBuilder::new()
        .with_account(ACCOUNT)
        .with_access_key(ACCOUNT_KEY)
        .with_container_name(container)
        .with_endpoint(azurite_account_url().to_string())
        .with_allow_http(true)
        .build()
        .unwrap()
}

/// Reads a blob back with an independent client: bytes, content type, cache control.
async fn read_back(container: &str, key: &str) -> (Bytes, String, String) {
    storage_server::read_object(&independent_client(container), key).await
}

#[tokio::test]
async fn azure_put_stores_a_blob_with_content_type_and_cache_control_and_delete_removes_it() {
    create_container("media").await;
    let storage = ObjectStorage::new(&azurite_config("media")).unwrap();
    let cases = [
        ("hls/c/s/720p/3.ts", "video/mp2t", "max-age=31536000"),
        ("hls/c/s/720p/vod-1.m3u8", "application/vnd.apple.mpegurl", "no-cache"),
        ("img-preview/c/s/256x144-2/index.json", "application/json", "no-cache"),
        ("img-preview/c/s/256x144-2/thumbnails.vtt", "text/vtt", "no-cache"),
    ];
    for (key, content_type, cache) in cases {
        let body = Bytes::from(format!("body of {key}"));
        storage.put(&path(key), body.clone()).await.unwrap();
        assert_eq!(read_back("media", key).await, (body, content_type.into(), cache.into()));
    }
    let other = independent_client("media");
    assert!(storage_server::object_exists(&other, "hls/c/s/720p/3.ts").await);
    storage.delete(&path("hls/c/s/720p/3.ts")).await.unwrap();
    assert!(!storage_server::object_exists(&other, "hls/c/s/720p/3.ts").await, "the deleted blob is gone");
    assert!(storage_server::object_exists(&other, "hls/c/s/720p/vod-1.m3u8").await, "only that blob");
    storage.delete(&path("hls/c/s/720p/3.ts")).await.unwrap();
    assert_eq!(storage.describe(), format!("Azure Blob {ACCOUNT}/media"));
}

#[tokio::test]
async fn azure_put_into_a_missing_container_fails_at_once() {
    let storage = ObjectStorage::new(&azurite_config("no-such-container")).unwrap();
    let err = put_with_retry(&storage, &path("a.ts"), Bytes::from_static(b"1"), &RetryPolicy::default(), None)
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("check that the bucket or container exists"), "{err}");
}

#[tokio::test]
async fn azure_configured_from_the_environment_stores_files() {
    create_container("from-env").await;
    let vars: HashMap<&str, String> = [
        ("HLS_STORAGE_TYPE", "AZURE_BLOB_STORAGE".to_string()),
        ("AZURE_STORAGE_ACCOUNT", ACCOUNT.into()),
        ("AZURE_STORAGE_CONTAINER", "from-env".into()),
        ("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY.into()),
        ("AZURE_STORAGE_ENDPOINT", azurite_account_url().into()),
    ]
    .into_iter()
    .collect();
    let storage = StorageConfig::from_env(|k| vars.get(k).cloned()).unwrap().build().unwrap();
    storage.put(&path("p/0.jpg"), Bytes::from_static(b"jpeg")).await.unwrap();
    let (body, content_type, _) = read_back("from-env", "p/0.jpg").await;
    assert_eq!((&body[..], content_type.as_str()), (&b"jpeg"[..], "image/jpeg"));
}

#[tokio::test]
async fn azure_client_secret_credential_fetches_a_token_and_sends_it_as_bearer() {
    let server = Server::start().await;
    server.script(
        "/tenant-1/oauth2/v2.0/token",
        &[Reply::Body(200, r#"{"access_token":"tok-123","expires_in":3600,"token_type":"Bearer"}"#)],
    );
    let config = StorageConfig::Azure {
        account: "acct".into(),
        container: "cont".into(),
        tenant_id: Some("tenant-1".into()),
        client_id: Some("client-1".into()),
        client_secret: Some(Secret::new("very-secret")),
        options: vec![
            ("AZURE_AUTHORITY_HOST", Secret::new(server.url(""))),
            ("AZURE_STORAGE_ENDPOINT", Secret::new(server.url("/acct"))),
        ],
        timeout: Duration::from_secs(5),
    };
    let storage = ObjectStorage::new(&config).unwrap();
    storage.put(&path("hls/0.ts"), Bytes::from_static(b"seg")).await.unwrap();

    let log = server.log();
    let token = log.iter().find(|r| r.path == "/tenant-1/oauth2/v2.0/token").expect("no token request");
    let form = String::from_utf8_lossy(&token.body);
    for field in ["client_id=client-1", "client_secret=very-secret", "grant_type=client_credentials"] {
        assert!(form.contains(field), "{form}");
    }
    let put = log.iter().find(|r| r.method == "PUT").expect("no blob PUT");
    assert_eq!(put.path, "/acct/cont/hls/0.ts");
    let header = |name| put.headers.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("authorization").as_deref(), Some("Bearer tok-123"));
    assert_eq!(header("x-ms-blob-type").as_deref(), Some("BlockBlob"));
    assert_eq!(header("x-ms-blob-content-type").as_deref(), Some("video/mp2t"));
    assert_eq!(header("x-ms-blob-cache-control").as_deref(), Some("max-age=31536000"));
    assert_eq!(server.object("/acct/cont/hls/0.ts").unwrap(), "seg");
    assert!(!format!("{config:?} {storage:?}").contains("very-secret"));
}
