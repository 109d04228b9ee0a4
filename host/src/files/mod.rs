//! Files plugins send to users (WIRE.md "Files"): written by the plugin
//! into scratch files ([`scratch`]), then put on the shelf, the folder the
//! host's own HTTP endpoint ([`endpoint`], `[files]`) serves, under a URL
//! nobody can guess; past `expiry_days` they go.
//!
//! This module knows nothing of sessions or stanzas: it turns bytes into
//! a URL. Which file was sent before (the same legacy file id, the same
//! URL) is the store's; the message that carries the URL, the roster's.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::FilesConfig;

pub mod endpoint;
pub mod scratch;

pub use scratch::{MAX_SCRATCH_FILES, Scratch, ScratchFiles};

/// Why a file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The gateway has no `[files]` endpoint to serve it from.
    #[error("this gateway keeps no files (no [files] endpoint is configured)")]
    NoEndpoint,
    /// Past the operator's `max_file_mb`.
    #[error("a file may be at most {0} bytes (max_file_mb)")]
    TooBig(u64),
    /// Too many unsent files.
    #[error("a session may hold at most {MAX_SCRATCH_FILES} unsent files")]
    TooMany,
    /// No such unsent file.
    #[error("file {0} is not open (sent already, dropped, or never created)")]
    NotOpen(u32),
    /// The disk refused.
    #[error("storing the file: {0}")]
    Io(#[from] std::io::Error),
}

/// A file on the shelf: what its message says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Where users' clients fetch it.
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

/// The folder the endpoint serves, and the URL it is reached at.
#[derive(Debug)]
pub struct Shelf {
    dir: PathBuf,
    url_prefix: String,
    expiry: Option<Duration>,
}

impl Shelf {
    /// The shelf of `[files]`, its folder created if missing.
    pub fn open(config: &FilesConfig) -> std::io::Result<Shelf> {
        let dir = config
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("gatehouse.files"));
        std::fs::create_dir_all(&dir)?;
        let mut url_prefix = config.url_prefix.clone();
        if !url_prefix.ends_with('/') {
            url_prefix.push('/');
        }
        Ok(Shelf {
            dir,
            url_prefix,
            expiry: (config.expiry_days > 0)
                .then(|| Duration::from_secs(u64::from(config.expiry_days) * 86_400)),
        })
    }

    /// The folder: scratch files are written here too (a rename, not a
    /// copy, puts them on the shelf), under names the endpoint never serves.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The oldest date (Unix seconds) a file stored at `now` may have and
    /// still be on the shelf.
    pub fn fresh_since(&self, now: i64) -> i64 {
        self.expiry.map_or(i64::MIN, |keep| {
            now - i64::try_from(keep.as_secs()).unwrap_or(i64::MAX)
        })
    }

    /// Puts a finished scratch file on the shelf as `name`; returns its URL.
    pub fn put(&self, scratch: Scratch, name: &str) -> Result<Stored, FileError> {
        let size = scratch.size();
        let (path, sha256) = scratch.finish()?;
        let mut token = [0u8; 16];
        getrandom::fill(&mut token).map_err(|e| FileError::Io(std::io::Error::other(e)))?;
        let token = hex::encode(token);
        let name = file_name(name);
        let folder = self.dir.join(&token);
        let moved =
            std::fs::create_dir(&folder).and_then(|()| std::fs::rename(&path, folder.join(&name)));
        if let Err(e) = moved {
            let _ = std::fs::remove_file(&path);
            return Err(e.into());
        }
        let encoded = percent_encoding::utf8_percent_encode(&name, URL_UNSAFE);
        Ok(Stored {
            url: format!("{}{token}/{encoded}", self.url_prefix),
            size,
            sha256,
        })
    }

    /// Removes the files older than the expiry, and scratch files a crash
    /// left (older than a day); returns how many went.
    pub fn prune(&self, now: SystemTime) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let scratch_age = Duration::from_secs(86_400);
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let scratch = name.to_string_lossy().starts_with(".scratch-");
            let Some(keep) = (if scratch {
                Some(scratch_age)
            } else {
                self.expiry
            }) else {
                continue;
            };
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| now.duration_since(at).ok())
                .is_some_and(|age| age > keep);
            if !old {
                continue;
            }
            let gone = if scratch {
                std::fs::remove_file(entry.path())
            } else {
                std::fs::remove_dir_all(entry.path())
            };
            removed += usize::from(gone.is_ok());
        }
        removed
    }
}

/// What a URL path segment cannot hold as it is (RFC 3986 keeps
/// unreserved characters only).
const URL_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A name safe to keep on disk and in a URL: its last path segment,
/// without control characters or a leading dot, at most 200 bytes.
pub fn file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut clean: String = last
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim_start_matches('.')
        .trim()
        .to_owned();
    while clean.len() > 200 {
        clean.pop();
    }
    if clean.is_empty() {
        "file".to_owned()
    } else {
        clean
    }
}

/// The media type a file's name says, for the common kinds; else
/// `application/octet-stream`.
pub fn media_type_of(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shelf(dir: &Path, expiry_days: u32) -> Shelf {
        Shelf::open(&FilesConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            url_prefix: "https://files.example/gh".into(),
            dir: Some(dir.to_owned()),
            expiry_days,
        })
        .unwrap()
    }

    #[test]
    fn a_file_is_put_under_a_token_with_its_name_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = shelf(dir.path(), 30);
        let files = ScratchFiles::new(Some(dir.path().to_owned()), 100);
        let scratch = files.from_bytes(b"hi").unwrap();
        let stored = shelf.put(scratch, "../a b/é x.txt").unwrap();
        let rest = stored
            .url
            .strip_prefix("https://files.example/gh/")
            .unwrap();
        let (token, name) = rest.split_once('/').unwrap();
        assert_eq!(token.len(), 32);
        assert_eq!(name, "%C3%A9%20x.txt");
        assert_eq!(
            std::fs::read(dir.path().join(token).join("é x.txt")).unwrap(),
            b"hi"
        );
        assert_eq!(stored.size, 2);
        let later = SystemTime::now() + Duration::from_secs(31 * 86_400);
        assert_eq!(shelf.prune(SystemTime::now()), 0);
        assert_eq!(shelf.prune(later), 1);
        assert!(!dir.path().join(token).exists());
    }

    #[test]
    fn names_and_media_types() {
        assert_eq!(file_name("/etc/passwd"), "passwd");
        assert_eq!(file_name(".."), "file");
        assert_eq!(file_name(".hidden\n"), "hidden");
        assert_eq!(media_type_of("A.PNG"), "image/png");
        assert_eq!(media_type_of("notes.txt"), "text/plain");
        assert_eq!(media_type_of("page.html"), "application/octet-stream");
    }
}
