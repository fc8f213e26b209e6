//! Host-side helpers (feature `std`): crash-safe save and load of the state file.

use crate::lock::Lock;
use crate::persist::RestoreError;
use latchkey_guest_code::RootSecret;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::{format, vec};

/// Why [`Lock::load_from_file`] failed.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read (`NotFound`: no state yet).
    Io(io::Error),
    /// The file is not a valid state image for this lock.
    Restore(RestoreError),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "cannot read the lock state: {e}"),
            LoadError::Restore(e) => write!(f, "the lock state is not valid: {e:?}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// The temporary file a save writes before renaming it over `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

impl<
    const USERS: usize,
    const PINS: usize,
    const KEYS: usize,
    const DENY: usize,
    const USED: usize,
    const EVENTS: usize,
> Lock<USERS, PINS, KEYS, DENY, USED, EVENTS>
{
    /// Saves the state crash-safely: writes `path.tmp`, fsyncs it, renames it over `path` and
    /// fsyncs the directory; then marks the state persisted. At every instant `path` holds
    /// either the previous image or the new one, complete. The file is owner-only on Unix.
    pub fn save_to_file(&mut self, path: &Path) -> io::Result<()> {
        let mut buf = vec![0u8; Self::MAX_ENCODED_LEN];
        let n = self.save(&mut buf).map_err(|e| io::Error::other(format!("{e:?}")))?;
        let tmp = temp_path(path);
        {
            let mut opts = OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(buf.get(..n).unwrap_or(&[]))?;
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        #[cfg(unix)]
        File::open(&dir)?.sync_all()?;
        self.mark_persisted();
        Ok(())
    }

    /// Loads the state saved by [`Lock::save_to_file`]. Only `path` is read: a leftover
    /// temporary file from an interrupted save is ignored (the next save overwrites it).
    pub fn load_from_file(lock_id: &[u8], root: RootSecret, path: &Path) -> Result<Self, LoadError> {
        let bytes = fs::read(path).map_err(LoadError::Io)?;
        Self::restore(lock_id, root, &bytes).map_err(LoadError::Restore)
    }
}
