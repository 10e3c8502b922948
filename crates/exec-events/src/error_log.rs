//! The execution error log (SPEC R-ERR-5): one JSON line per fatal error, appended.
//!
//! The file is opened in append mode and each line (the JSON object and its newline) is
//! written with a single `write_all` under a lock, so two errors logged at once never share a
//! line. Only [`ExecutionError`] values are written; they are built from typed errors that
//! never hold a secret, so the log cannot leak one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::event::ExecutionError;

/// Where the log goes unless configured otherwise.
pub const DEFAULT_ERROR_LOG_PATH: &str = "data/logs/execution-error.log";

/// Why the error log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum ErrorLogError {
    /// The directory or file could not be created or written.
    #[error("error log {path}: {source}")]
    Io {
        /// The log's path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The error could not be serialized (should not happen).
    #[error("error log {path}: {source}")]
    Json {
        /// The log's path.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// The append-only error log.
#[derive(Debug)]
pub struct ErrorLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl ErrorLog {
    /// Opens (creating the directory and file if needed) the log at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ErrorLogError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| ErrorLogError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        Ok(ErrorLog {
            path,
            file: Mutex::new(file),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line.
    pub fn append(&self, error: &ExecutionError) -> Result<(), ErrorLogError> {
        let mut line = serde_json::to_vec(error).map_err(|source| ErrorLogError::Json {
            path: self.path.clone(),
            source,
        })?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.write_all(&line)
            .and_then(|()| file.flush())
            .map_err(|source| ErrorLogError::Io {
                path: self.path.clone(),
                source,
            })
    }
}
