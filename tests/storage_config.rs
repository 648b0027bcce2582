//! Storage configuration from environment variables (coordinator-protocol §11,
//! output-layout §15).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use hls_ladder::storage::{HttpAuth, Secret, StorageConfig, StorageError};

fn parse(vars: &[(&str, &str)]) -> Result<StorageConfig, StorageError> {
    let vars: HashMap<&str, &str> = vars.iter().copied().collect();
    StorageConfig::from_env(|k| vars.get(k).map(|v| v.to_string()))
}

fn config_error_variable(result: Result<StorageConfig, StorageError>) -> &'static str {
    match result {
        Err(StorageError::Config { variable, .. }) => variable,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

fn filesystem(vars: &[(&str, &str)]) -> (PathBuf, u32, u32, bool) {
    match parse(vars).unwrap() {
        StorageConfig::Filesystem { root, dir_mode, file_mode, fsync } => (root, dir_mode, file_mode, fsync),
        other => panic!("expected filesystem, got {other:?}"),
    }
}

fn http_timeout(value: &str) -> Duration {
    match parse(&[
        ("HLS_STORAGE_TYPE", "HTTP"),
        ("HLS_STORAGE_HTTP_URL", "http://h/x"),
        ("HLS_STORAGE_TIMEOUT_SECONDS", value),
    ])
    .unwrap()
    {
        StorageConfig::Http { timeout, .. } => timeout,
        other => panic!("expected HTTP, got {other:?}"),
    }
}

#[test]
fn an_empty_environment_means_filesystem_in_the_working_directory_with_private_modes() {
    assert_eq!(filesystem(&[]), (PathBuf::new(), 0o700, 0o600, false));
    assert_eq!(filesystem(&[("HLS_STORAGE_TYPE", "  ")]).1, 0o700);
}

#[test]
fn storage_type_names_are_case_insensitive() {
    let kind = |v: &str| match parse(&[
        ("HLS_STORAGE_TYPE", v),
        ("HLS_STORAGE_HTTP_URL", "https://h/"),
        ("AWS_S3_BUCKET", "b"),
        ("AZURE_STORAGE_ACCOUNT", "acct"),
        ("AZURE_STORAGE_CONTAINER", "c"),
    ])
    .unwrap()
    {
        StorageConfig::Filesystem { .. } => "fs",
        StorageConfig::Http { .. } => "http",
        StorageConfig::S3 { .. } => "s3",
        StorageConfig::Azure { .. } => "azure",
    };
    for (value, expected) in [
        ("filesystem", "fs"),
        ("FileSystem", "fs"),
        ("http", "http"),
        ("HTTPS", "http"),
        ("s3", "s3"),
        ("az", "azure"),
        ("Azure", "azure"),
        ("azure_blob_storage", "azure"),
    ] {
        assert_eq!(kind(value), expected, "{value}");
    }
}

#[test]
fn an_unknown_storage_type_is_fatal_and_names_the_variable_and_the_choices() {
    let err = parse(&[("HLS_STORAGE_TYPE", "ftp")]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("HLS_STORAGE_TYPE") && text.contains("\"FTP\""), "{text}");
    assert!(text.contains("FILESYSTEM") && text.contains("AZURE_BLOB_STORAGE"), "{text}");
}

#[test]
fn modes_are_octal_and_invalid_ones_fall_back_to_the_defaults() {
    let modes = |dir: &str, file: &str| {
        let (_, d, f, _) = filesystem(&[("HLS_FILESYSTEM_DIR_MODE", dir), ("HLS_FILESYSTEM_FILE_MODE", file)]);
        (d, f)
    };
    assert_eq!(modes("0755", "0644"), (0o755, 0o644));
    assert_eq!(modes("755", "0o2664"), (0o755, 0o2664));
    assert_eq!(modes("0999", "abc"), (0o700, 0o600));
    assert_eq!(modes("77777", "-1"), (0o700, 0o600));
}

#[test]
fn fsync_accepts_yes_no_true_false_in_any_case() {
    let fsync = |v: &str| filesystem(&[("HLS_FILESYSTEM_FSYNC", v)]).3;
    for v in ["YES", "yes", "True", "TRUE"] {
        assert!(fsync(v), "{v}");
    }
    for v in ["NO", "no", "false", "maybe", "1"] {
        assert!(!fsync(v), "{v}");
    }
}

#[test]
fn the_filesystem_root_is_taken_as_given() {
    assert_eq!(filesystem(&[("HLS_FILESYSTEM_PATH", "/srv/hls")]).0, PathBuf::from("/srv/hls"));
}

#[test]
fn the_request_timeout_defaults_to_30_seconds_and_ignores_invalid_numbers() {
    assert_eq!(http_timeout(""), Duration::from_secs(30));
    assert_eq!(http_timeout("5"), Duration::from_secs(5));
    for invalid in ["0", "-3", "2.5", "ten"] {
        assert_eq!(http_timeout(invalid), Duration::from_secs(30), "{invalid}");
    }
}

#[test]
fn http_needs_a_usable_url() {
    assert_eq!(config_error_variable(parse(&[("HLS_STORAGE_TYPE", "HTTP")])), "HLS_STORAGE_HTTP_URL");
    let bad = parse(&[("HLS_STORAGE_TYPE", "HTTP"), ("HLS_STORAGE_HTTP_URL", "ftp://h/")]);
    assert_eq!(config_error_variable(bad), "HLS_STORAGE_HTTP_URL");
}

#[test]
fn http_auth_kinds_parse_and_each_needs_its_credential() {
    let auth = |vars: &[(&str, &str)]| {
        let mut all = vec![("HLS_STORAGE_TYPE", "HTTP"), ("HLS_STORAGE_HTTP_URL", "https://h/b/")];
        all.extend_from_slice(vars);
        parse(&all).map(|c| match c {
            StorageConfig::Http { auth, base_url, .. } => {
                assert_eq!(base_url, "https://h/b");
                auth
            }
            other => panic!("{other:?}"),
        })
    };
    assert_eq!(auth(&[]).unwrap(), HttpAuth::None);
    assert_eq!(
        auth(&[("HLS_STORAGE_HTTP_AUTH", "Basic"), ("HLS_STORAGE_HTTP_USER", "u"), ("HLS_STORAGE_HTTP_PASSWORD", "p")])
            .unwrap(),
        HttpAuth::Basic { user: "u".into(), password: Secret::new("p") }
    );
    assert_eq!(
        auth(&[("HLS_STORAGE_HTTP_AUTH", "bearer"), ("HLS_STORAGE_HTTP_TOKEN", "t")]).unwrap(),
        HttpAuth::Bearer { token: Secret::new("t") }
    );
    assert_eq!(
        auth(&[("HLS_STORAGE_HTTP_AUTH", "custom"), ("HLS_STORAGE_HTTP_AUTH_CUSTOM", "X y")]).unwrap(),
        HttpAuth::Custom { value: Secret::new("X y") }
    );
    let missing = [
        ("Basic", "HLS_STORAGE_HTTP_USER"),
        ("Bearer", "HLS_STORAGE_HTTP_TOKEN"),
        ("Custom", "HLS_STORAGE_HTTP_AUTH_CUSTOM"),
        ("Digest", "HLS_STORAGE_HTTP_AUTH"),
    ];
    for (kind, variable) in missing {
        let err = auth(&[("HLS_STORAGE_HTTP_AUTH", kind)]).unwrap_err();
        assert!(matches!(err, StorageError::Config { variable: v, .. } if v == variable), "{kind}: {err}");
    }
}

#[test]
fn credentials_never_appear_in_errors_or_debug_output() {
    let err = parse(&[
        ("HLS_STORAGE_TYPE", "HTTP"),
        ("HLS_STORAGE_HTTP_URL", "https://h/"),
        ("HLS_STORAGE_HTTP_AUTH", "Bearer"),
        ("HLS_STORAGE_HTTP_TOKEN", "leak\nme"),
    ])
    .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("leak"), "{err}");

    let configs = [
        parse(&[("HLS_STORAGE_TYPE", "HTTP"), ("HLS_STORAGE_HTTP_URL", "https://user:hunter2@h/")]),
        parse(&[
            ("HLS_STORAGE_TYPE", "HTTP"),
            ("HLS_STORAGE_HTTP_URL", "https://h/"),
            ("HLS_STORAGE_HTTP_AUTH", "Basic"),
            ("HLS_STORAGE_HTTP_USER", "u"),
            ("HLS_STORAGE_HTTP_PASSWORD", "hunter2"),
        ]),
        parse(&[
            ("HLS_STORAGE_TYPE", "S3"),
            ("AWS_S3_BUCKET", "b"),
            ("AWS_SECRET_ACCESS_KEY", "hunter2"),
            ("AWS_SESSION_TOKEN", "hunter2"),
        ]),
        parse(&[
            ("HLS_STORAGE_TYPE", "AZURE"),
            ("AZURE_STORAGE_ACCOUNT", "a"),
            ("AZURE_STORAGE_CONTAINER", "c"),
            ("AZURE_CLIENT_SECRET", "hunter2"),
        ]),
    ];
    for config in configs {
        let text = format!("{:?}", config.unwrap());
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn object_stores_read_their_standard_variables() {
    let s3 = parse(&[
        ("HLS_STORAGE_TYPE", "S3"),
        ("AWS_S3_BUCKET", "media"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "sk"),
        ("AWS_SESSION_TOKEN", "st"),
    ])
    .unwrap();
    let StorageConfig::S3 { bucket, region, endpoint, access_key_id, secret_access_key, options, timeout } = s3 else {
        panic!("{s3:?}")
    };
    assert_eq!((bucket.as_str(), region.as_deref()), ("media", Some("eu-west-1")));
    assert_eq!(endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!((access_key_id.as_deref(), secret_access_key), (Some("AKID"), Some(Secret::new("sk"))));
    assert_eq!(options, vec![("AWS_SESSION_TOKEN", Secret::new("st"))]);
    assert_eq!(timeout, Duration::from_secs(30));

    assert_eq!(config_error_variable(parse(&[("HLS_STORAGE_TYPE", "S3")])), "AWS_S3_BUCKET");
    let no_account = parse(&[("HLS_STORAGE_TYPE", "AZ"), ("AZURE_STORAGE_CONTAINER", "c")]);
    assert_eq!(config_error_variable(no_account), "AZURE_STORAGE_ACCOUNT");
    let no_container = parse(&[("HLS_STORAGE_TYPE", "AZ"), ("AZURE_STORAGE_ACCOUNT", "a")]);
    assert_eq!(config_error_variable(no_container), "AZURE_STORAGE_CONTAINER");
}
