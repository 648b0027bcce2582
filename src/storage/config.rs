//! `StorageConfig`: the storage environment variables (coordinator-protocol §11, output-layout
//! §15) parsed once into typed values, then turned into a backend by [`StorageConfig::build`].

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::StorageError;
use super::http::HttpAuth;
pub use crate::redact::Secret;

/// Which backend stores files, with everything it needs. `Debug` shows no credential. It
/// travels to each child inside the job document (credentials included, on stdin only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageConfig {
    Filesystem {
        /// Empty = the working directory.
        root: PathBuf,
        dir_mode: u32,
        file_mode: u32,
        fsync: bool,
    },
    Http {
        /// Without credentials (those moved into `auth`) and without trailing `/`.
        base_url: String,
        auth: HttpAuth,
        timeout: Duration,
    },
    S3 {
        bucket: String,
        region: Option<String>,
        endpoint: Option<String>,
        access_key_id: Option<String>,
        secret_access_key: Option<Secret>,
        /// Other standard `AWS_*` settings that were set (session token, web identity, ...),
        /// by variable name.
        #[serde(with = "option_names")]
        options: Vec<(&'static str, Secret)>,
        timeout: Duration,
    },
    Azure {
        account: String,
        container: String,
        tenant_id: Option<String>,
        client_id: Option<String>,
        client_secret: Option<Secret>,
        /// Other `AZURE_*` settings that were set (account key, emulator, endpoint).
        #[serde(with = "option_names")]
        options: Vec<(&'static str, Secret)>,
        timeout: Duration,
    },
}

pub(super) const DEFAULT_TIMEOUT_SECONDS: u64 = 30;

/// Standard AWS settings passed through to the S3 client when set.
pub(super) const AWS_OPTIONS: &[&str] = &[
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ENDPOINT_URL_STS",
    "AWS_METADATA_ENDPOINT",
    "AWS_IMDSV1_FALLBACK",
    "AWS_SERVER_SIDE_ENCRYPTION",
    "AWS_SSE_KMS_KEY_ID",
];

/// Extra Azure settings passed through when set (key auth and the Azurite emulator).
pub(super) const AZURE_OPTIONS: &[&str] = &[
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_USE_EMULATOR",
    "AZURE_STORAGE_ENDPOINT",
    "AZURE_AUTHORITY_HOST",
];

impl StorageConfig {
    /// Reads the storage variables through `get` (usually `|k| std::env::var(k).ok()`).
    /// Unset and empty are the same. An unknown `HLS_STORAGE_TYPE`, a missing required value
    /// or an unusable URL is an error; an invalid number, mode or boolean logs a warning and
    /// falls back to its default (coordinator-protocol §11).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, StorageError> {
        let env = Env(&get);
        let kind = env.get("HLS_STORAGE_TYPE").unwrap_or_default().to_ascii_uppercase();
        match kind.as_str() {
            "" | "FILESYSTEM" => Ok(StorageConfig::Filesystem {
                root: PathBuf::from(env.get("HLS_FILESYSTEM_PATH").unwrap_or_default()),
                dir_mode: env.mode("HLS_FILESYSTEM_DIR_MODE", 0o700),
                file_mode: env.mode("HLS_FILESYSTEM_FILE_MODE", 0o600),
                fsync: env.boolean("HLS_FILESYSTEM_FSYNC", false),
            }),
            "HTTP" | "HTTPS" => env.http(),
            "S3" => Ok(StorageConfig::S3 {
                bucket: env.required("AWS_S3_BUCKET", "the bucket files are stored in")?,
                region: env.get("AWS_REGION"),
                endpoint: env.get("AWS_ENDPOINT_URL"),
                access_key_id: env.get("AWS_ACCESS_KEY_ID"),
                secret_access_key: env.get("AWS_SECRET_ACCESS_KEY").map(Secret::new),
                options: env.options(AWS_OPTIONS),
                timeout: env.timeout(),
            }),
            "AZ" | "AZURE" | "AZURE_BLOB_STORAGE" => Ok(StorageConfig::Azure {
                account: env.required("AZURE_STORAGE_ACCOUNT", "the storage account name")?,
                container: env.required("AZURE_STORAGE_CONTAINER", "the blob container name")?,
                tenant_id: env.get("AZURE_TENANT_ID"),
                client_id: env.get("AZURE_CLIENT_ID"),
                client_secret: env.get("AZURE_CLIENT_SECRET").map(Secret::new),
                options: env.options(AZURE_OPTIONS),
                timeout: env.timeout(),
            }),
            _ => Err(StorageError::Config {
                variable: "HLS_STORAGE_TYPE",
                message: format!(
                    "unknown storage type {kind:?}; use FILESYSTEM (or empty), HTTP, HTTPS, S3, \
                     AZ, AZURE or AZURE_BLOB_STORAGE"
                ),
            }),
        }
    }

    /// Creates the backend. Fails only on configuration the backend itself rejects.
    /// The backend's name in metrics: `filesystem`, `http`, `s3` or `azure`.
    pub fn backend(&self) -> &'static str {
        match self {
            StorageConfig::Filesystem { .. } => "filesystem",
            StorageConfig::Http { .. } => "http",
            StorageConfig::S3 { .. } => "s3",
            StorageConfig::Azure { .. } => "azure",
        }
    }
}

/// The pass-through options travel by variable name and are read back as the name from
/// [`AWS_OPTIONS`] or [`AZURE_OPTIONS`], so no other variable can be smuggled in.
mod option_names {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Secret, AWS_OPTIONS, AZURE_OPTIONS};

    pub fn serialize<S: Serializer>(options: &[(&'static str, Secret)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(options)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(&'static str, Secret)>, D::Error> {
        let named: Vec<(String, Secret)> = Vec::deserialize(d)?;
        named
            .into_iter()
            .map(|(name, value)| match AWS_OPTIONS.iter().chain(AZURE_OPTIONS).find(|known| **known == name) {
                Some(known) => Ok((*known, value)),
                None => Err(D::Error::custom(format!("{name} is not a storage pass-through option"))),
            })
            .collect()
    }
}

/// Typed access to the variables; every fallback is logged with the variable's name.
struct Env<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    /// The trimmed value, `None` when unset or blank.
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str, what: &str) -> Result<String, StorageError> {
        self.get(name).ok_or_else(|| StorageError::Config {
            variable: name,
            message: format!("is required for this HLS_STORAGE_TYPE; set it to {what}"),
        })
    }

    fn options(&self, names: &[&'static str]) -> Vec<(&'static str, Secret)> {
        names.iter().filter_map(|&name| self.get(name).map(|v| (name, Secret::new(v)))).collect()
    }

    fn timeout(&self) -> Duration {
        let seconds = self.number("HLS_STORAGE_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS, 1);
        Duration::from_secs(seconds)
    }

    /// A whole number ≥ `min`; anything else warns and gives `default`.
    fn number(&self, name: &str, default: u64, min: u64) -> u64 {
        let Some(raw) = self.get(name) else {
            return default;
        };
        match raw.parse::<u64>() {
            Ok(n) if n >= min => n,
            _ => {
                tracing::warn!(variable = name, value = %raw, default, "not a whole number >= {min}; using the default");
                default
            }
        }
    }

    /// An octal permission mode such as `0755`, `755` or `0o755`.
    fn mode(&self, name: &str, default: u32) -> u32 {
        let Some(raw) = self.get(name) else {
            return default;
        };
        let digits = raw.strip_prefix("0o").unwrap_or(&raw);
        match u32::from_str_radix(digits, 8) {
            Ok(mode) if mode <= 0o7777 => mode,
            _ => {
                tracing::warn!(variable = name, value = %raw, default = format!("{default:04o}"), "not an octal permission mode; using the default");
                default
            }
        }
    }

    /// `YES`/`NO`, `TRUE`/`FALSE`, any case.
    fn boolean(&self, name: &str, default: bool) -> bool {
        let Some(raw) = self.get(name) else {
            return default;
        };
        match raw.to_ascii_uppercase().as_str() {
            "YES" | "TRUE" => true,
            "NO" | "FALSE" => false,
            _ => {
                tracing::warn!(variable = name, value = %raw, default, "not YES or NO; using the default");
                default
            }
        }
    }

    fn http(&self) -> Result<StorageConfig, StorageError> {
        let raw_url = self.required("HLS_STORAGE_HTTP_URL", "the base URL files are PUT under")?;
        let (base_url, url_auth) = super::http::parse_base(&raw_url)?;
        let kind = self.get("HLS_STORAGE_HTTP_AUTH").unwrap_or_default().to_ascii_uppercase();
        let auth = match kind.as_str() {
            "" | "NONE" => url_auth,
            "BASIC" => HttpAuth::Basic {
                user: self.required("HLS_STORAGE_HTTP_USER", "the Basic auth user name")?,
                password: Secret::new(self.get("HLS_STORAGE_HTTP_PASSWORD").unwrap_or_default()),
            },
            "BEARER" => {
                HttpAuth::Bearer { token: Secret::new(self.required("HLS_STORAGE_HTTP_TOKEN", "the Bearer token")?) }
            }
            "CUSTOM" => HttpAuth::Custom {
                value: Secret::new(
                    self.required("HLS_STORAGE_HTTP_AUTH_CUSTOM", "the full Authorization header value")?,
                ),
            },
            _ => {
                return Err(StorageError::Config {
                    variable: "HLS_STORAGE_HTTP_AUTH",
                    message: format!("unknown auth type {kind:?}; use Basic, Bearer, Custom or leave it empty"),
                })
            }
        };
        // Surfaces a token with a line break now rather than on the first upload.
        auth.header_value()?;
        Ok(StorageConfig::Http { base_url, auth, timeout: self.timeout() })
    }
}
