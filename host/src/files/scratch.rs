//! The files a session's plugin writes before it sends them: each a file
//! on disk (never whole in memory), hashed as it is written, capped by the
//! gateway's `max_file_mb`, and gone when dropped unsent.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use xmpp_parsers::sha2::{Digest, Sha256};

use super::FileError;

/// How many unsent files a session holds at once.
pub const MAX_SCRATCH_FILES: usize = 16;

/// A file being written: its bytes on disk, their size and running hash.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    hasher: Sha256,
}

impl Scratch {
    /// A new, empty file in `dir`.
    pub fn create(dir: &Path) -> Result<Scratch, FileError> {
        let mut token = [0u8; 16];
        getrandom::fill(&mut token).map_err(|e| FileError::Io(std::io::Error::other(e)))?;
        let path = dir.join(format!(".scratch-{}", hex::encode(token)));
        let file = File::create_new(&path)?;
        Ok(Scratch {
            path,
            file: Some(file),
            size: 0,
            hasher: Sha256::new(),
        })
    }

    /// Appends `data`, unless the file would pass `cap` bytes.
    pub fn write(&mut self, data: &[u8], cap: u64) -> Result<(), FileError> {
        let size = self.size + data.len() as u64;
        if size > cap {
            return Err(FileError::TooBig(cap));
        }
        let file = self.file.as_mut().ok_or(FileError::NotOpen(0))?;
        file.write_all(data)?;
        self.hasher.update(data);
        self.size = size;
        Ok(())
    }

    /// Its size so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Closes it: where it is, and its SHA-256. The caller owns the path
    /// from then on (it moves it, or removes it).
    pub fn finish(mut self) -> Result<(PathBuf, [u8; 32]), FileError> {
        if let Some(file) = self.file.take() {
            file.sync_all()?;
        }
        let hasher = std::mem::take(&mut self.hasher);
        let path = std::mem::take(&mut self.path);
        Ok((path, hasher.finalize().into()))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A session's unsent files, by the id the plugin knows them by.
#[derive(Debug)]
pub struct ScratchFiles {
    dir: Option<PathBuf>,
    cap: u64,
    next_id: u32,
    open: HashMap<u32, Scratch>,
}

impl ScratchFiles {
    /// No files yet; they go in `dir` (none: the gateway keeps no files),
    /// each at most `cap` bytes.
    pub fn new(dir: Option<PathBuf>, cap: u64) -> ScratchFiles {
        ScratchFiles {
            dir,
            cap,
            next_id: 1,
            open: HashMap::new(),
        }
    }

    /// The largest file, in bytes.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// Where the files go, if the gateway keeps files.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Starts a file; returns its id.
    pub fn create(&mut self) -> Result<u32, FileError> {
        let dir = self.dir.as_deref().ok_or(FileError::NoEndpoint)?;
        if self.open.len() >= MAX_SCRATCH_FILES {
            return Err(FileError::TooMany);
        }
        let scratch = Scratch::create(dir)?;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.open.insert(id, scratch);
        Ok(id)
    }

    /// Appends to file `id`; a file past the cap is dropped.
    pub fn write(&mut self, id: u32, data: &[u8]) -> Result<(), FileError> {
        let scratch = self.open.get_mut(&id).ok_or(FileError::NotOpen(id))?;
        match scratch.write(data, self.cap) {
            Err(e @ FileError::TooBig(_)) => {
                self.open.remove(&id);
                Err(e)
            }
            other => other,
        }
    }

    /// Takes file `id` out, to send it.
    pub fn take(&mut self, id: u32) -> Result<Scratch, FileError> {
        self.open.remove(&id).ok_or(FileError::NotOpen(id))
    }

    /// A file holding `data` (a plugin's `bytes`).
    pub fn from_bytes(&self, data: &[u8]) -> Result<Scratch, FileError> {
        let dir = self.dir.as_deref().ok_or(FileError::NoEndpoint)?;
        let mut scratch = Scratch::create(dir)?;
        scratch.write(data, self.cap)?;
        Ok(scratch)
    }

    /// Drops every unsent file (the instance that wrote them is gone).
    pub fn clear(&mut self) {
        self.open.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_hashed_as_written_and_gone_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = ScratchFiles::new(Some(dir.path().to_owned()), 10);
        let id = files.create().unwrap();
        files.write(id, b"hello ").unwrap();
        files.write(id, b"you").unwrap();
        let (path, sha) = files.take(id).unwrap().finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello you");
        assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(b"hello you")));

        let dropped = files.create().unwrap();
        files.write(dropped, b"x").unwrap();
        files.clear();
        assert!(matches!(
            files.write(dropped, b"x"),
            Err(FileError::NotOpen(_))
        ));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the finished file is left");
    }

    #[test]
    fn past_the_cap_the_file_is_refused_and_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = ScratchFiles::new(Some(dir.path().to_owned()), 4);
        let id = files.create().unwrap();
        files.write(id, b"1234").unwrap();
        assert!(matches!(files.write(id, b"5"), Err(FileError::TooBig(4))));
        assert!(matches!(files.take(id), Err(FileError::NotOpen(_))));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(matches!(
            files.from_bytes(b"12345"),
            Err(FileError::TooBig(4))
        ));
        for _ in 0..MAX_SCRATCH_FILES {
            files.create().unwrap();
        }
        assert!(matches!(files.create(), Err(FileError::TooMany)));
        let none = ScratchFiles::new(None, 4);
        assert!(matches!(none.from_bytes(b"1"), Err(FileError::NoEndpoint)));
    }
}
