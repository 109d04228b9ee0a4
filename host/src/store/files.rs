//! The files sent to users, by (user, legacy file id): a file the network
//! sends again is the same URL, not a second copy.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};

/// A file sent before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// Where users' clients fetch it.
    pub url: String,
    /// Its name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

impl Store {
    /// The file sent before under this legacy file id, if it was stored
    /// at or after `since` (older ones have expired from the shelf).
    pub fn file(&self, user_id: i64, legacy_file_id: &str, since: i64) -> Result<Option<FileRow>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT url, name, media_type, size, sha256 FROM files
             WHERE user_id = ?1 AND legacy_file_id = ?2 AND stored_at >= ?3",
        )?;
        Ok(stmt
            .query_row(params![user_id, legacy_file_id, since], |row| {
                let sha: Vec<u8> = row.get(4)?;
                Ok(FileRow {
                    url: row.get(0)?,
                    name: row.get(1)?,
                    media_type: row.get(2)?,
                    size: row.get::<_, i64>(3)?.max(0) as u64,
                    sha256: sha.try_into().unwrap_or([0; 32]),
                })
            })
            .optional()?)
    }

    /// Records a file stored now under a legacy file id (replacing an
    /// expired one).
    pub fn put_file(
        &self,
        user_id: i64,
        legacy_file_id: &str,
        file: &FileRow,
        at: i64,
    ) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        let mut stmt = conn.prepare_cached(
            "INSERT OR REPLACE INTO files
             (user_id, legacy_file_id, url, name, media_type, size, sha256, stored_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let size = i64::try_from(file.size).unwrap_or(i64::MAX);
        stmt.execute(params![
            user_id,
            legacy_file_id,
            file.url,
            file.name,
            file.media_type,
            size,
            &file.sha256[..],
            at
        ])?;
        Ok(())
    }
}
