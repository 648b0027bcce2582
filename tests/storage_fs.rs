//! FILESYSTEM storage against a real temporary directory (output-layout §13).

pub mod support;

use support::storage_server::path;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hls_ladder::storage::{put_with_retry, FsStorage, RetryPolicy, Storage, StorageConfig, StorageError, StoragePath};

fn mode_of(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn put_creates_directories_and_leaves_no_temporary_file() {
    let root = tempfile::tempdir().unwrap();
    let storage = FsStorage::new(root.path(), 0o700, 0o600, false);
    storage.put(&path("hls/ch/id/720p/0.ts"), Bytes::from_static(b"segment")).await.unwrap();
    let dir = root.path().join("hls/ch/id/720p");
    assert_eq!(fs::read(dir.join("0.ts")).unwrap(), b"segment");
    assert_eq!(entries(&dir), ["0.ts"]);
}

#[tokio::test]
async fn a_segment_grows_in_place_part_by_part_and_a_restart_starts_it_over() {
    let root = tempfile::tempdir().unwrap();
    let storage = FsStorage::new(root.path(), 0o700, 0o640, true);
    let file = root.path().join("hls/ch/id/720p/7.m4s");
    storage.append(&path("hls/ch/id/720p/7.m4s"), Bytes::from_static(b"part0"), 0).await.unwrap();
    assert_eq!(fs::read(&file).unwrap(), b"part0");
    let inode = fs::metadata(&file).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();
    storage.append(&path("hls/ch/id/720p/7.m4s"), Bytes::from_static(b"part0part1"), 5).await.unwrap();
    assert_eq!(fs::read(&file).unwrap(), b"part0part1");
    // In place: a reader holding the file open sees the new bytes after the old ones.
    assert_eq!(fs::metadata(&file).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap(), inode);
    assert_eq!(mode_of(&file), 0o640);
    assert_eq!(entries(file.parent().unwrap()), ["7.m4s"]);
    // A restarted run makes segment 7 again from its first part: the old bytes go.
    storage.append(&path("hls/ch/id/720p/7.m4s"), Bytes::from_static(b"new"), 0).await.unwrap();
    assert_eq!(fs::read(&file).unwrap(), b"new");
    // A file shorter than what the caller thinks was stored gets the whole body.
    fs::write(&file, b"ne").unwrap();
    storage.append(&path("hls/ch/id/720p/7.m4s"), Bytes::from_static(b"newer"), 3).await.unwrap();
    assert_eq!(fs::read(&file).unwrap(), b"newer");
}

#[tokio::test]
async fn a_stale_temporary_file_is_truncated_and_replaced() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("live.m3u8.tmp"), vec![b'x'; 100_000]).unwrap();
    fs::set_permissions(root.path().join("live.m3u8.tmp"), fs::Permissions::from_mode(0o600)).unwrap();
    let storage = FsStorage::new(root.path(), 0o700, 0o644, false);
    storage.put(&path("live.m3u8"), Bytes::from_static(b"#EXTM3U\n")).await.unwrap();
    assert_eq!(fs::read(root.path().join("live.m3u8")).unwrap(), b"#EXTM3U\n");
    assert_eq!(mode_of(&root.path().join("live.m3u8")), 0o644);
    assert_eq!(entries(root.path()), ["live.m3u8"]);
}

#[tokio::test]
async fn readers_see_the_old_or_the_new_file_never_a_partial_one() {
    let root = tempfile::tempdir().unwrap();
    let storage = FsStorage::new(root.path(), 0o700, 0o600, false);
    let target = root.path().join("index.json");
    let size = 512 * 1024;
    storage.put(&path("index.json"), Bytes::from(vec![b'a'; size])).await.unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (done, target) = (done.clone(), target.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) {
                let content = fs::read(&target).unwrap();
                assert_eq!(content.len(), size, "partial file seen");
                assert!(content.iter().all(|b| *b == content[0]), "mixed file seen");
                reads += 1;
            }
            reads
        })
    };
    for i in 0..30 {
        let fill = if i % 2 == 0 { b'b' } else { b'a' };
        storage.put(&path("index.json"), Bytes::from(vec![fill; size])).await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

#[tokio::test]
async fn configured_modes_apply_exactly_to_new_directories_and_files_despite_the_umask() {
    let root = tempfile::tempdir().unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o711)).unwrap();
    let base = root.path().join("missing-root");
    let storage = FsStorage::new(&base, 0o777, 0o666, true);
    storage.put(&path("a/b/1.jpg"), Bytes::from_static(b"jpg")).await.unwrap();
    for dir in [base.clone(), base.join("a"), base.join("a/b")] {
        assert_eq!(mode_of(&dir), 0o777, "{}", dir.display());
    }
    assert_eq!(mode_of(&base.join("a/b/1.jpg")), 0o666);
    // Directories that already existed keep the operator's permissions.
    assert_eq!(mode_of(root.path()), 0o711);
}

#[tokio::test]
async fn delete_removes_the_file_and_a_missing_file_counts_as_success() {
    let root = tempfile::tempdir().unwrap();
    let storage = FsStorage::new(root.path(), 0o700, 0o600, false);
    storage.put(&path("x/0.ts"), Bytes::from_static(b"1")).await.unwrap();
    storage.delete(&path("x/0.ts")).await.unwrap();
    assert!(!root.path().join("x/0.ts").exists());
    storage.delete(&path("x/0.ts")).await.unwrap();
    storage.delete(&path("never/existed.ts")).await.unwrap();
}

#[test]
fn hostile_paths_never_reach_the_file_system() {
    let root = tempfile::tempdir().unwrap();
    for hostile in ["../escape.ts", "/etc/passwd", "a/../../b", "a\\..\\b", "a/\0/b", "a//b"] {
        let err = StoragePath::new(hostile).unwrap_err();
        assert!(matches!(err, StorageError::InvalidPath { .. }), "{hostile}");
        assert!(err.to_string().contains("refusing storage path"), "{err}");
    }
    assert!(entries(root.path()).is_empty());
}

#[tokio::test]
async fn a_file_where_a_directory_belongs_is_a_clear_permanent_error() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("hls"), b"not a directory").unwrap();
    let storage = FsStorage::new(root.path(), 0o700, 0o600, false);
    let err = storage.put(&path("hls/c/0.ts"), Bytes::from_static(b"1")).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("remove the stray entry"), "{err}");
}

/// Clears CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER from the calling thread's
/// effective set, so permission bits bind even when the tests run as root. Capabilities are
/// per thread on Linux, so other tests are unaffected.
fn drop_permission_override_on_this_thread() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: header and a two-element data array are what capget/capset v3 expect.
    unsafe {
        assert_eq!(libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()), 0);
        data[0].effective &= !((1 << 1) | (1 << 2) | (1 << 3));
        assert_eq!(libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()), 0);
    }
}

#[test]
fn writing_into_a_read_only_directory_fails_fast_with_an_actionable_error() {
    let root = tempfile::tempdir().unwrap();
    let locked = root.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o500)).unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(drop_permission_override_on_this_thread)
        .build()
        .unwrap();
    let storage = FsStorage::new(&locked, 0o700, 0o600, false);
    let policy = RetryPolicy::default();
    let start = Instant::now();
    let err = runtime
        .block_on(put_with_retry(&storage, &path("c/0.ts"), Bytes::from_static(b"1"), &policy, None))
        .unwrap_err();

    assert!(start.elapsed() < Duration::from_secs(2), "retried a permanent error");
    assert!(!err.is_retryable());
    let StorageError::Io { ref source, .. } = err else {
        panic!("expected an Io error, got {err}");
    };
    assert_eq!(source.raw_os_error(), Some(libc::EACCES), "{err}");
    let text = err.to_string();
    assert!(text.contains(&locked.display().to_string()), "{text}");
    assert!(text.contains("make HLS_FILESYSTEM_PATH writable"), "{text}");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    assert!(entries(&locked).is_empty());
}

#[tokio::test]
async fn the_filesystem_config_builds_a_working_backend() {
    let root = tempfile::tempdir().unwrap();
    let root_text = root.path().to_str().unwrap().to_string();
    let config = StorageConfig::from_env(|name| match name {
        "HLS_STORAGE_TYPE" => Some("filesystem".into()),
        "HLS_FILESYSTEM_PATH" => Some(root_text.clone()),
        "HLS_FILESYSTEM_FILE_MODE" => Some("0644".into()),
        _ => None,
    })
    .unwrap();
    let storage = config.build().unwrap();
    assert_eq!(storage.describe(), format!("filesystem {root_text}"));
    storage.put(&path("m.m3u8"), Bytes::from_static(b"#EXTM3U\n")).await.unwrap();
    assert_eq!(mode_of(&root.path().join("m.m3u8")), 0o644);
}
