//! Files from the plugin: scratch files written in chunks, and a file to
//! send put on the shelf (once per legacy file id) and described for its
//! message.

use super::{State, WitResult};
use crate::files::{FileError, file_name, media_type_of};
use crate::plugin::bindings::gatehouse::gateway::types;
use crate::session::SessionData;
use crate::stanza::files::{FileMeta, SharedFile};
use crate::store::{FileRow, unix_now};

pub(super) fn file_error(e: FileError) -> types::Error {
    match e {
        FileError::NoEndpoint => types::Error::Unsupported(e.to_string()),
        FileError::TooBig(_) | FileError::TooMany => types::Error::LimitExceeded(e.to_string()),
        FileError::NotOpen(_) => types::Error::NotFound(e.to_string()),
        FileError::Io(_) => {
            tracing::error!(error = %e, "a plugin's file could not be stored");
            types::Error::Other(e.to_string())
        }
    }
}

impl State {
    pub(super) fn scratch_create(&mut self) -> WitResult<u32> {
        Ok(self
            .data()
            .and_then(|data| data.files.create().map_err(file_error)))
    }

    pub(super) fn scratch_write(&mut self, id: u32, chunk: &[u8]) -> WitResult<()> {
        Ok(self
            .data()
            .and_then(|data| data.files.write(id, chunk).map_err(file_error)))
    }
}

/// Puts the plugin's file on the shelf, unless its legacy file id was sent
/// before (then the source is dropped and the same URL comes back).
pub(super) fn shelve(
    data: &mut SessionData,
    source: types::FileSource,
    info: &types::FileInfo,
) -> Result<SharedFile, types::Error> {
    let shelf = data
        .ctx
        .files
        .clone()
        .ok_or_else(|| file_error(FileError::NoEndpoint))?;
    let user_id = data.roster.user_id();
    let store = data.ctx.store.clone();
    let stored_before = match &info.legacy_file_id {
        Some(legacy) => {
            data.roster
                .id_within_limit("a legacy file id", legacy)
                .map_err(types::Error::from)?;
            store
                .file(user_id, legacy, shelf.fresh_since(unix_now()))
                .map_err(|e| types::Error::Other(e.to_string()))?
        }
        None => None,
    };
    let scratch = match source {
        types::FileSource::Bytes(bytes) => {
            if stored_before.is_some() {
                None
            } else {
                Some(data.files.from_bytes(&bytes).map_err(file_error)?)
            }
        }
        types::FileSource::Written(id) => Some(data.files.take(id).map_err(file_error)?),
    };
    let row = match (stored_before, scratch) {
        (Some(row), _) => row,
        (None, Some(scratch)) => {
            let name = file_name(&info.name);
            let stored = shelf.put(scratch, &name).map_err(file_error)?;
            let row = FileRow {
                url: stored.url,
                media_type: info
                    .media_type
                    .clone()
                    .filter(|t| !t.is_empty() && t.len() <= 255)
                    .unwrap_or_else(|| media_type_of(&name).to_owned()),
                name,
                size: stored.size,
                sha256: stored.sha256,
            };
            if let Some(legacy) = &info.legacy_file_id {
                store
                    .put_file(user_id, legacy, &row, unix_now())
                    .map_err(|e| types::Error::Other(e.to_string()))?;
            }
            row
        }
        (None, None) => return Err(types::Error::Other("no file".into())),
    };
    Ok(SharedFile {
        url: row.url,
        meta: FileMeta {
            name: Some(row.name),
            media_type: Some(row.media_type),
            size: Some(row.size),
            sha256: Some(row.sha256),
        },
    })
}
