//! One process per journal (R-SAFE-6): a process that writes a journal file holds an
//! exclusive OS lock on `<journal>.lock` for as long as it runs. The kernel releases the lock
//! on any exit, `kill -9` included, so a crashed process never leaves the journal locked; the
//! file itself stays (it only names the last holder).
//!
//! The lock is `flock(2)` through `fs4`: it belongs to the open file, so a second process is
//! refused and so is a second open within one process. The holder writes its PID, start time
//! and command into the file, and a refused process quotes it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs4::fs_std::FileExt;

/// The lock file of the journal at `journal`: the same path with `.lock` appended.
pub fn lock_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive hold on a journal file, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct JournalLock {
    // Held open: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl JournalLock {
    /// Takes the lock of the journal at `journal` for this process, or refuses with who holds
    /// it (PID, start time, command) and what to do. `what` names this process (e.g. "serve").
    pub fn acquire(journal: &Path, what: &str) -> Result<JournalLock> {
        let path = lock_path(journal);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening the journal's lock file {}", path.display()))?;
        let taken = FileExt::try_lock_exclusive(&file)
            .with_context(|| format!("locking {}", path.display()))?;
        if !taken {
            let mut holder = String::new();
            // Best effort: the holder may be writing it right now.
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() {
                "another process (it has not written its PID yet)".to_owned()
            } else {
                holder.to_owned()
            };
            bail!(
                "the journal {} is in use by {holder}; only one process may write a journal. \
                 Stop that process first (serve stops on Ctrl-C or SIGTERM) and run this \
                 again; while serve runs, act on its trades through its control API (e.g. POST \
                 /api/trades/{{tag}}/close); to run alongside it, give this process its own \
                 EXECUTION_JOURNAL",
                journal.display()
            );
        }
        let started = httpdate::fmt_http_date(std::time::SystemTime::now());
        let line = format!("pid {} ({what}, started {started})\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(line.as_bytes()))
            .and_then(|()| file.sync_data())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(JournalLock { _file: file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_hold_is_refused_naming_the_first_and_allowed_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("j.sqlite");
        let first = JournalLock::acquire(&journal, "serve").unwrap();
        let err = JournalLock::acquire(&journal, "recover")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("pid {} (serve, started", std::process::id())),
            "{err}"
        );
        assert!(err.contains("Stop that process first"), "{err}");
        drop(first);
        let again = JournalLock::acquire(&journal, "recover").unwrap();
        assert_eq!(again.path(), lock_path(&journal));
    }
}
