//! S3 and Azure Blob backends (§13) through `object_store`: one put is one `PutObject` /
//! `Put Blob` with the table's content type and cache control.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path;
use object_store::{Attribute, Attributes, ClientOptions, ObjectStore, ObjectStoreExt, PutOptions, RetryConfig};

use super::backend::Storage;
use super::config::{Secret, StorageConfig};
use super::error::StorageError;
use super::path::StoragePath;

/// §13: "Connect timeout 10 s", as for HTTP storage.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An S3 bucket or Azure container. `object_store`'s own retries are switched off so that
/// `put_with_retry` alone decides, with the one deadline operators configured.
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    /// "S3" or "Azure Blob", for messages.
    backend: &'static str,
    /// Where files go, without credentials, for `describe`.
    location: String,
}

impl ObjectStorage {
    /// Builds the backend for an `S3` or `Azure` config.
    pub fn new(config: &StorageConfig) -> Result<Self, StorageError> {
        match config {
            StorageConfig::S3 { bucket, region, endpoint, access_key_id, secret_access_key, options, timeout } => {
                let mut builder = AmazonS3Builder::new()
                    .with_client_options(client_options(*timeout, endpoint.as_deref()))
                    .with_retry(no_retries(*timeout));
                for (name, value) in options {
                    let key =
                        AmazonS3ConfigKey::from_str(&name.to_ascii_lowercase()).map_err(|e| config_error(name, e))?;
                    builder = builder.with_config(key, value.expose());
                }
                builder = builder.with_bucket_name(bucket);
                if let Some(region) = region {
                    builder = builder.with_region(region);
                }
                if let Some(endpoint) = endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(key_id) = access_key_id {
                    builder = builder.with_access_key_id(key_id);
                }
                if let Some(secret) = secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                let store = builder.build().map_err(|e| config_error("AWS_S3_BUCKET", e))?;
                let place = endpoint.as_deref().or(region.as_deref()).unwrap_or("default region");
                Ok(ObjectStorage {
                    store: Arc::new(store),
                    backend: "S3",
                    location: format!("S3 bucket {bucket} ({place})"),
                })
            }
            StorageConfig::Azure { account, container, tenant_id, client_id, client_secret, options, timeout } => {
                let endpoint =
                    options.iter().find(|(name, _)| *name == "AZURE_STORAGE_ENDPOINT").map(|(_, value)| value.expose());
                let mut builder = MicrosoftAzureBuilder::new()
                    .with_client_options(client_options(*timeout, endpoint))
                    .with_retry(no_retries(*timeout));
                for (name, value) in options {
                    let key =
                        AzureConfigKey::from_str(&name.to_ascii_lowercase()).map_err(|e| config_error(name, e))?;
                    builder = builder.with_config(key, value.expose());
                }
                builder = builder.with_account(account).with_container_name(container);
                if let Some(tenant) = tenant_id {
                    builder = builder.with_tenant_id(tenant);
                }
                if let Some(client) = client_id {
                    builder = builder.with_client_id(client);
                }
                if let Some(secret) = client_secret.as_ref().map(Secret::expose) {
                    builder = builder.with_client_secret(secret);
                }
                let store = builder.build().map_err(|e| config_error("AZURE_STORAGE_ACCOUNT", e))?;
                Ok(ObjectStorage {
                    store: Arc::new(store),
                    backend: "Azure Blob",
                    location: format!("Azure Blob {account}/{container}"),
                })
            }
            _ => Err(StorageError::Config {
                variable: "HLS_STORAGE_TYPE",
                message: "object storage needs S3 or AZURE".into(),
            }),
        }
    }

    fn error(&self, action: &'static str, path: &StoragePath, err: object_store::Error) -> StorageError {
        let (retryable, hint) = classify(self.backend, &err);
        StorageError::Object {
            backend: self.backend,
            action,
            path: path.to_string(),
            message: format!("{}{hint}", one_line(&err.to_string())),
            retryable,
        }
    }
}

#[async_trait::async_trait]
impl Storage for ObjectStorage {
    async fn put(&self, path: &StoragePath, body: Bytes) -> Result<(), StorageError> {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, path.content_type().into());
        attributes.insert(Attribute::CacheControl, path.cache_control().into());
        let options = PutOptions { attributes, ..PutOptions::default() };
        self.store
            .put_opts(&Path::from(path.as_str()), body.into(), options)
            .await
            .map(drop)
            .map_err(|e| self.error("store", path, e))
    }

    async fn delete(&self, path: &StoragePath) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(path.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("delete", path, e)),
        }
    }

    fn describe(&self) -> String {
        self.location.clone()
    }
}

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorage").field("location", &self.location).finish_non_exhaustive()
    }
}

fn client_options(timeout: Duration, endpoint: Option<&str>) -> ClientOptions {
    ClientOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")))
}

fn no_retries(timeout: Duration) -> RetryConfig {
    RetryConfig { max_retries: 0, retry_timeout: timeout, ..RetryConfig::default() }
}

fn config_error(variable: &'static str, err: object_store::Error) -> StorageError {
    StorageError::Config { variable, message: format!("the object store client refused the configuration: {err}") }
}

/// Whether an error can heal (§13: network errors, timeouts, 408/429/5xx), and a hint.
///
/// `object_store` maps 401, 403, 404, 409 and 412 to their own variants; every other failure
/// arrives as `Generic`, whose source chain holds either a transport error (`HttpError`) or a
/// status. The status type is private to `object_store`, so it is read from the message.
fn classify(backend: &str, err: &object_store::Error) -> (bool, &'static str) {
    use object_store::Error as E;
    let credentials = if backend == "S3" {
        "; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy"
    } else {
        "; check AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET and the container's role assignments"
    };
    match err {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => (false, credentials),
        E::NotFound { .. } => (false, "; check that the bucket or container exists"),
        E::Generic { source, .. } => {
            let mut current: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
            while let Some(e) = current {
                if let Some(http) = e.downcast_ref::<HttpError>() {
                    let retryable = !matches!(http.kind(), HttpErrorKind::Unknown);
                    return (retryable, "; will be retried");
                }
                if let Some(status) = status_in_message(&e.to_string()) {
                    let retryable = matches!(status, 408 | 429) || (500..=599).contains(&status);
                    return (retryable, if retryable { "; will be retried" } else { "" });
                }
                current = e.source();
            }
            // Unrecognised failures (e.g. fetching instance credentials) are assumed transient.
            (true, "")
        }
        _ => (false, ""),
    }
}

/// Error responses are multi-line XML; a log line wants one short line.
fn one_line(message: &str) -> String {
    const MAX_CHARS: usize = 400;
    let mut line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = line.char_indices().nth(MAX_CHARS) {
        line.truncate(cut);
        line.push_str(" ...");
    }
    line
}

/// The status in `object_store`'s "Server returned non-2xx status code: 503 Service
/// Unavailable: ..." message.
fn status_in_message(message: &str) -> Option<u16> {
    const MARKER: &str = "status code: ";
    let start = message.find(MARKER)? + MARKER.len();
    message.get(start..start + 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_read_from_object_store_messages() {
        let msg = "Error performing PUT http://h/b/k in 3ms - Server returned non-2xx status code: 503 Service Unavailable: <Error/>";
        assert_eq!(status_in_message(msg), Some(503));
        assert_eq!(status_in_message("status code: 4"), None);
        assert_eq!(status_in_message("no status"), None);
    }

    #[test]
    fn messages_become_one_bounded_line() {
        assert_eq!(one_line("a\n  <Error>\r\n\tx</Error>"), "a <Error> x</Error>");
        let long = one_line(&"é ".repeat(1000));
        assert!(long.ends_with(" ...") && long.chars().count() == 404, "{long}");
    }
}
