//! The echo network's files (ECHO.md "Files"): `/file NAME SIZE` makes a
//! contact send a file whose bytes anyone can compute again (SHA-256 of
//! its name, repeated), written to the host in chunks however large.

use gatehouse_guest::{Contact, Error, FileInfo, FileSource, SendOptions, session};
use sha2::{Digest, Sha256};

/// The largest file the echo network makes.
const MAX_SIZE: u64 = 100_000_000;
/// What is handed to the host at a time: a multiple of the 32-byte
/// pattern, so that every chunk starts where the pattern does.
const CHUNK: usize = 64 * 1024;

/// The media type the echo network gives a file, by its extension.
fn media_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, e)| e) {
        Some("png") => "image/png",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// `/file NAME SIZE`: the contact sends the file.
pub fn send(contact: &Contact, arg: &str) -> Result<(), Error> {
    let usage = || format!("/file needs a name and a size (0 to {MAX_SIZE}), not {arg:?}");
    let (name, size) = arg.rsplit_once(' ').ok_or_else(usage)?;
    let name = name.trim();
    let size: u64 = size.parse().map_err(|_| usage())?;
    if name.is_empty() || size > MAX_SIZE {
        return Err(usage().into());
    }
    let pattern = Sha256::digest(name.as_bytes());
    let chunk: Vec<u8> = pattern.iter().copied().cycle().take(CHUNK).collect();
    let id = session::create_file()?;
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        session::write_file(id, &chunk[..n])?;
        left -= n as u64;
    }
    let info = FileInfo {
        name: name.to_owned(),
        media_type: Some(media_type(name).to_owned()),
        legacy_file_id: Some(format!("{name}{size}")),
        caption: None,
    };
    contact.send_file(&FileSource::Written(id), &info, SendOptions::default())?;
    Ok(())
}
