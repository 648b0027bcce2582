//! FILESYSTEM backend (§13): `{file}.tmp` written then renamed over `{file}`, so readers see the
//! old or the new content and never a partial file. The exception is an LL-HLS segment growing
//! part by part ([`Storage::append`]): its new bytes are written in place after the old ones,
//! which readers only ask for once a playlist lists them.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::backend::Storage;
use super::error::StorageError;
use super::path::StoragePath;

/// Files under a root directory. Blocking file system calls run on tokio's blocking pool so a
/// slow disk or NFS mount never stalls the async workers.
#[derive(Debug, Clone)]
pub struct FsStorage {
    /// Every stored path is joined onto this; empty or `.` means the working directory.
    root: PathBuf,
    /// Applied to every directory this backend creates, regardless of the process umask.
    dir_mode: u32,
    /// Applied to every file this backend writes, regardless of the process umask.
    file_mode: u32,
    /// fsync the file before the rename and its directory after it, so "durable" survives a
    /// power cut, at the price of one or two disk flushes per file.
    fsync: bool,
}

impl FsStorage {
    pub fn new(root: impl Into<PathBuf>, dir_mode: u32, file_mode: u32, fsync: bool) -> Self {
        FsStorage { root: root.into(), dir_mode: dir_mode & 0o7777, file_mode: file_mode & 0o7777, fsync }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn write_atomic(&self, path: &StoragePath, body: &[u8]) -> Result<(), StorageError> {
        let target = self.root.join(path.as_str());
        if let Some(dir) = target.parent() {
            self.create_missing_dirs(dir)?;
        }
        let mut tmp_name = target.clone().into_os_string();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);

        let result = self
            .write_file(&tmp, body)
            .and_then(|()| fs::rename(&tmp, &target).map_err(io_err("rename into place", &target)))
            .and_then(|()| self.sync_parent(&target));
        if result.is_err() {
            // A half-written temporary would only waste the space that may have caused this.
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Writes `body[from..]` at offset `from` of the file (created when `from` is 0 or when it
    /// is shorter than `from`: then all of `body` is written).
    fn write_in_place(&self, path: &StoragePath, body: &[u8], from: usize) -> Result<(), StorageError> {
        use std::os::unix::fs::FileExt;
        let target = self.root.join(path.as_str());
        if let Some(dir) = target.parent() {
            self.create_missing_dirs(dir)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(from == 0)
            .mode(self.file_mode)
            .open(&target)
            .map_err(io_err("open", &target))?;
        let len = file.metadata().map_err(io_err("inspect", &target))?.len();
        let from = if len < from as u64 { 0 } else { from.min(body.len()) };
        if from == 0 {
            file.set_permissions(Permissions::from_mode(self.file_mode))
                .map_err(io_err("set permissions on", &target))?;
        }
        file.write_all_at(&body[from..], from as u64).map_err(io_err("write", &target))?;
        if self.fsync {
            file.sync_data().map_err(io_err("fsync", &target))?;
            if from == 0 {
                self.sync_parent(&target)?;
            }
        }
        Ok(())
    }

    fn write_file(&self, tmp: &Path, body: &[u8]) -> Result<(), StorageError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(self.file_mode)
            .open(tmp)
            .map_err(io_err("create", tmp))?;
        // The open mode is filtered by the umask and ignored for a stale temporary; fchmod is not.
        file.set_permissions(Permissions::from_mode(self.file_mode)).map_err(io_err("set permissions on", tmp))?;
        file.write_all(body).map_err(io_err("write", tmp))?;
        if self.fsync {
            file.sync_all().map_err(io_err("fsync", tmp))?;
        }
        Ok(())
    }

    fn sync_parent(&self, target: &Path) -> Result<(), StorageError> {
        if !self.fsync {
            return Ok(());
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync directory", dir))
    }

    /// Creates the missing ancestors of `dir`, outermost first, each chmod'ed to `dir_mode`.
    /// Existing directories are left as they are: their permissions are the operator's.
    fn create_missing_dirs(&self, dir: &Path) -> Result<(), StorageError> {
        let mut missing = Vec::new();
        let mut current = dir;
        while !current.as_os_str().is_empty() {
            match fs::metadata(current) {
                Ok(meta) if meta.is_dir() => break,
                Ok(_) => {
                    let not_dir = io::Error::from_raw_os_error(libc::ENOTDIR);
                    return Err(io_err("create directory", current)(not_dir));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    missing.push(current);
                    match current.parent() {
                        Some(parent) => current = parent,
                        None => break,
                    }
                }
                Err(e) => return Err(io_err("inspect directory", current)(e)),
            }
        }
        for dir in missing.into_iter().rev() {
            match DirBuilder::new().mode(self.dir_mode).create(dir) {
                Ok(()) => fs::set_permissions(dir, Permissions::from_mode(self.dir_mode))
                    .map_err(io_err("set permissions on", dir))?,
                // Another upload into the same new directory won the race; its mode is ours.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(e) => return Err(io_err("create directory", dir)(e)),
            }
        }
        Ok(())
    }

    fn remove(&self, path: &StoragePath) -> Result<(), StorageError> {
        let target = self.root.join(path.as_str());
        match fs::remove_file(&target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", &target)(e)),
        }
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Io { action, path, source }
}

/// Runs blocking file work on the blocking pool; a panic there becomes an ordinary error.
async fn blocking<F>(action: &'static str, path: PathBuf, work: F) -> Result<(), StorageError>
where
    F: FnOnce() -> Result<(), StorageError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => {
            Err(StorageError::Io { action, path, source: io::Error::other(format!("blocking task failed: {join}")) })
        }
    }
}

#[async_trait::async_trait]
impl Storage for FsStorage {
    async fn put(&self, path: &StoragePath, body: Bytes) -> Result<(), StorageError> {
        let this = self.clone();
        let path = path.clone();
        let full = self.root.join(path.as_str());
        blocking("write", full, move || this.write_atomic(&path, &body)).await
    }

    async fn append(&self, path: &StoragePath, body: Bytes, from: usize) -> Result<(), StorageError> {
        let this = self.clone();
        let path = path.clone();
        let full = self.root.join(path.as_str());
        blocking("write", full, move || this.write_in_place(&path, &body, from)).await
    }

    async fn delete(&self, path: &StoragePath) -> Result<(), StorageError> {
        let this = self.clone();
        let path = path.clone();
        let full = self.root.join(path.as_str());
        blocking("delete", full, move || this.remove(&path)).await
    }

    fn describe(&self) -> String {
        let root = self.root.as_os_str();
        if root.is_empty() || root == "." {
            "filesystem (working directory)".to_string()
        } else {
            format!("filesystem {}", self.root.display())
        }
    }
}
