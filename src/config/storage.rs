//! Where the worker's streams are stored: [`StorageArgs`] as flags and environment (the Go
//! worker's variables, output-layout §15), validated into a [`StorageConfig`] once, at start-up.
//! The children get the validated config in their job document and read no variable themselves.

use clap::Args;

use crate::storage::{StorageConfig, StorageError};

/// The storage variables, raw. Their rules (an unknown type or a missing required value is
/// fatal, an invalid number or mode falls back to its default with a warning) live in
/// [`StorageConfig::from_env`], which reads them through [`StorageArgs::value`].
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Storage")]
pub struct StorageArgs {
    /// FILESYSTEM (or empty), HTTP, HTTPS, S3, AZ, AZURE or AZURE_BLOB_STORAGE.
    #[arg(long, env = "HLS_STORAGE_TYPE", default_value = "FILESYSTEM")]
    pub storage_type: String,
    /// Filesystem: the storage root (files go to {root}/hls/{channel}/{stream-id}/...); empty:
    /// the working directory.
    #[arg(long, env = "HLS_FILESYSTEM_PATH", default_value = "")]
    pub filesystem_path: String,
    /// Filesystem: octal mode of the directories created.
    #[arg(long, env = "HLS_FILESYSTEM_DIR_MODE", default_value = "0700")]
    pub filesystem_dir_mode: String,
    /// Filesystem: octal mode of the files written.
    #[arg(long, env = "HLS_FILESYSTEM_FILE_MODE", default_value = "0600")]
    pub filesystem_file_mode: String,
    /// Filesystem: fsync each file and its directory before it is announced.
    #[arg(long, env = "HLS_FILESYSTEM_FSYNC", default_value = "NO")]
    pub filesystem_fsync: String,
    /// HTTP: base URL files are PUT under (credentials in it become Basic auth).
    #[arg(long, env = "HLS_STORAGE_HTTP_URL")]
    pub storage_http_url: Option<String>,
    /// HTTP: Authorization kind: empty, Basic, Bearer or Custom.
    #[arg(long, env = "HLS_STORAGE_HTTP_AUTH")]
    pub storage_http_auth: Option<String>,
    /// HTTP Basic auth user name.
    #[arg(long, env = "HLS_STORAGE_HTTP_USER")]
    pub storage_http_user: Option<String>,
    /// HTTP Basic auth password.
    #[arg(long, env = "HLS_STORAGE_HTTP_PASSWORD", hide_env_values = true)]
    pub storage_http_password: Option<String>,
    /// HTTP Bearer token.
    #[arg(long, env = "HLS_STORAGE_HTTP_TOKEN", hide_env_values = true)]
    pub storage_http_token: Option<String>,
    /// HTTP: the whole Authorization header value (Custom).
    #[arg(long, env = "HLS_STORAGE_HTTP_AUTH_CUSTOM", hide_env_values = true)]
    pub storage_http_auth_custom: Option<String>,
    /// HTTP, S3, Azure: timeout of one request, seconds.
    #[arg(long, env = "HLS_STORAGE_TIMEOUT_SECONDS", default_value = "30")]
    pub storage_timeout: String,
    /// S3: the bucket files are stored in.
    #[arg(long, env = "AWS_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// S3: region.
    #[arg(long, env = "AWS_REGION")]
    pub s3_region: Option<String>,
    /// S3: endpoint URL of an S3-compatible server (MinIO, Ceph, R2, ...).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub s3_endpoint: Option<String>,
    /// S3: access key id (unset: the SDK's usual credential chain).
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    /// S3: secret access key.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Azure: storage account name.
    #[arg(long, env = "AZURE_STORAGE_ACCOUNT")]
    pub azure_storage_account: Option<String>,
    /// Azure: blob container name.
    #[arg(long, env = "AZURE_STORAGE_CONTAINER")]
    pub azure_storage_container: Option<String>,
    /// Azure: tenant id (service principal).
    #[arg(long, env = "AZURE_TENANT_ID")]
    pub azure_tenant_id: Option<String>,
    /// Azure: client id (service principal).
    #[arg(long, env = "AZURE_CLIENT_ID")]
    pub azure_client_id: Option<String>,
    /// Azure: client secret (service principal).
    #[arg(long, env = "AZURE_CLIENT_SECRET", hide_env_values = true)]
    pub azure_client_secret: Option<String>,
}

impl StorageArgs {
    /// The validated backend configuration. `passthrough` supplies the SDKs' own standard
    /// variables (`AWS_SESSION_TOKEN`, `AZURE_STORAGE_ACCOUNT_KEY`, ...), which are not flags
    /// of ours; it is asked for nothing else.
    pub fn to_config(&self, passthrough: impl Fn(&str) -> Option<String>) -> Result<StorageConfig, StorageError> {
        StorageConfig::from_env(|name| self.value(name).unwrap_or_else(|| passthrough(name)))
    }

    /// The value of one of our variables by name (`Some(None)`: ours, but unset); `None` for a
    /// name that is not one of ours.
    fn value(&self, name: &str) -> Option<Option<String>> {
        Some(match name {
            "HLS_STORAGE_TYPE" => Some(self.storage_type.clone()),
            "HLS_FILESYSTEM_PATH" => Some(self.filesystem_path.clone()),
            "HLS_FILESYSTEM_DIR_MODE" => Some(self.filesystem_dir_mode.clone()),
            "HLS_FILESYSTEM_FILE_MODE" => Some(self.filesystem_file_mode.clone()),
            "HLS_FILESYSTEM_FSYNC" => Some(self.filesystem_fsync.clone()),
            "HLS_STORAGE_HTTP_URL" => self.storage_http_url.clone(),
            "HLS_STORAGE_HTTP_AUTH" => self.storage_http_auth.clone(),
            "HLS_STORAGE_HTTP_USER" => self.storage_http_user.clone(),
            "HLS_STORAGE_HTTP_PASSWORD" => self.storage_http_password.clone(),
            "HLS_STORAGE_HTTP_TOKEN" => self.storage_http_token.clone(),
            "HLS_STORAGE_HTTP_AUTH_CUSTOM" => self.storage_http_auth_custom.clone(),
            "HLS_STORAGE_TIMEOUT_SECONDS" => Some(self.storage_timeout.clone()),
            "AWS_S3_BUCKET" => self.s3_bucket.clone(),
            "AWS_REGION" => self.s3_region.clone(),
            "AWS_ENDPOINT_URL" => self.s3_endpoint.clone(),
            "AWS_ACCESS_KEY_ID" => self.s3_access_key_id.clone(),
            "AWS_SECRET_ACCESS_KEY" => self.s3_secret_access_key.clone(),
            "AZURE_STORAGE_ACCOUNT" => self.azure_storage_account.clone(),
            "AZURE_STORAGE_CONTAINER" => self.azure_storage_container.clone(),
            "AZURE_TENANT_ID" => self.azure_tenant_id.clone(),
            "AZURE_CLIENT_ID" => self.azure_client_id.clone(),
            "AZURE_CLIENT_SECRET" => self.azure_client_secret.clone(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        storage: StorageArgs,
    }

    #[test]
    fn every_storage_variable_reaches_the_config_by_its_name() {
        let cmd = Flags::command();
        for arg in cmd.get_arguments() {
            let (Some(var), Some(long)) = (arg.get_env().and_then(|v| v.to_str()), arg.get_long()) else { continue };
            let matches =
                Flags::command().try_get_matches_from(["x".to_string(), format!("--{long}=marker-{var}")]).unwrap();
            let flags = Flags::from_arg_matches(&matches).unwrap();
            assert_eq!(flags.storage.value(var), Some(Some(format!("marker-{var}"))), "{var}");
        }
        let flags = Flags::parse_from(["x"]);
        assert_eq!(flags.storage.value("AWS_SESSION_TOKEN"), None, "pass-through names are not ours");
    }

    #[test]
    fn pass_through_variables_come_from_outside_and_ours_do_not() {
        let flags = Flags::parse_from(["x", "--storage-type", "S3", "--s3-bucket", "b"]);
        let asked = std::cell::RefCell::new(Vec::new());
        let config = flags
            .storage
            .to_config(|name| {
                asked.borrow_mut().push(name.to_string());
                (name == "AWS_SESSION_TOKEN").then(|| "t".to_string())
            })
            .unwrap();
        match config {
            StorageConfig::S3 { bucket, options, .. } => {
                assert_eq!(bucket, "b");
                assert_eq!(options.len(), 1);
                assert_eq!((options[0].0, options[0].1.expose()), ("AWS_SESSION_TOKEN", "t"));
            }
            other => panic!("expected S3, got {other:?}"),
        }
        assert!(asked.borrow().iter().all(|n| n.starts_with("AWS_") && n != "AWS_S3_BUCKET"), "{:?}", asked.borrow());
    }
}
