//! The compiled-component cache: compiling a plugin takes 50 ms (Rust) to
//! several seconds (Python, JavaScript); loading its compiled form takes a
//! fraction of a millisecond. Entries are keyed by the component's SHA-256
//! and the engine's compatibility hash, so a changed plugin, a new wasmtime
//! or another engine configuration never loads a stale artifact.
//!
//! Loading an entry runs the machine code in it, so only a folder and
//! files nobody else could have written are trusted: the folder is created
//! 0700, and a folder or an entry that is a symbolic link, belongs to
//! another user, or is writable by group or others is not used (the plugin
//! is compiled instead). Entries are written under unguessable names,
//! created exclusively, then renamed into place.

use std::fs::{DirBuilder, Metadata, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;
use xmpp_parsers::sha2::{Digest, Sha256};

/// The component for `bytes`: from the cache if it holds it, else compiled
/// (and then stored, if there is a cache). Blocking: run it off the async
/// threads.
pub fn component(
    engine: &Engine,
    bytes: &[u8],
    cache: Option<&Path>,
) -> wasmtime::Result<Component> {
    let Some(dir) = cache else {
        return Component::new(engine, bytes);
    };
    if let Err(why) = trusted_dir(dir) {
        tracing::warn!(dir = %dir.display(), why, "the compiled cache is not safe to use: compiling");
        return Component::new(engine, bytes);
    }
    let entry = entry(dir, engine, bytes);
    if std::fs::symlink_metadata(&entry).is_ok_and(|m| trusted(&m, false).is_err()) {
        tracing::warn!(entry = %entry.display(), "a compiled cache entry someone else could have written: compiling");
        let _ = std::fs::remove_file(&entry);
    }
    if entry.exists() {
        // SAFETY: the file is one this host wrote with
        // `precompile_component` into its own cache folder, under a name
        // that binds it to these exact bytes and this engine's settings;
        // `deserialize_file` checks the engine compatibility again.
        #[allow(unsafe_code, reason = "loading our own precompiled artifact")]
        let loaded = unsafe { Component::deserialize_file(engine, &entry) };
        match loaded {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(entry = %entry.display(), error = %e, "compiled cache entry unusable; compiling")
            }
        }
    }
    let compiled = engine.precompile_component(bytes)?;
    if let Err(e) = store(&entry, &compiled) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot write the compiled cache");
    }
    // SAFETY: `compiled` was produced just above by this engine.
    #[allow(unsafe_code, reason = "loading an artifact this engine just produced")]
    let component = unsafe { Component::deserialize(engine, &compiled) };
    component
}

/// The cache file for these bytes and this engine.
fn entry(dir: &Path, engine: &Engine, bytes: &[u8]) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let content = hex::encode(Sha256::digest(bytes));
    dir.join(format!("{content}-{:016x}.cwasm", hasher.finish()))
}

/// The cache folder, created 0700 if missing; Err says why it is not to
/// be trusted.
fn trusted_dir(dir: &Path) -> Result<(), &'static str> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|_| "it cannot be created")?;
    let metadata = std::fs::symlink_metadata(dir).map_err(|_| "it cannot be read")?;
    trusted(&metadata, true)
}

/// Whether a folder or file is ours alone: no link, our user's, not
/// writable by group or others.
fn trusted(metadata: &Metadata, dir: bool) -> Result<(), &'static str> {
    if metadata.file_type().is_symlink() {
        return Err("it is a symbolic link");
    }
    if dir != metadata.is_dir() {
        return Err("it is not what it should be (a folder, a file)");
    }
    let ours = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if ours.is_some_and(|uid| uid != metadata.uid()) {
        return Err("it belongs to another user");
    }
    if metadata.mode() & 0o022 != 0 {
        return Err("group or others may write it");
    }
    Ok(())
}

/// Writes an entry atomically (a reader never sees half a file), through a
/// file created exclusively under an unguessable name.
fn store(entry: &Path, compiled: &[u8]) -> std::io::Result<()> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
    let partial = entry.with_extension(format!("tmp-{}", hex::encode(nonce)));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)?;
    let written = file.write_all(compiled).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component binary: the preamble of an empty component
    /// (magic, version 0xd, layer 1).
    const EMPTY: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    #[test]
    fn a_compiled_component_is_stored_then_loaded() {
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let bytes = EMPTY;
        component(&engine, bytes, Some(dir.path())).unwrap();
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "one entry, no leftovers");
        let path = entry(dir.path(), &engine, bytes);
        let written = std::fs::metadata(&path).unwrap().modified().unwrap();
        // The second load reads it: the entry is not written again.
        component(&engine, bytes, Some(dir.path())).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            written
        );
        // A corrupted entry is compiled again and replaced.
        std::fs::write(&path, b"garbage").unwrap();
        component(&engine, bytes, Some(dir.path())).unwrap();
        assert_ne!(std::fs::read(&path).unwrap(), b"garbage");
    }

    #[test]
    fn a_cache_others_could_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let engine = Engine::default();
        let bytes = EMPTY;
        // A folder others may write: nothing is read from it or written.
        let shared = tempfile::tempdir().unwrap();
        std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        component(&engine, bytes, Some(shared.path())).unwrap();
        assert_eq!(std::fs::read_dir(shared.path()).unwrap().count(), 0);
        // An entry that is a link to a file elsewhere is not loaded (it is
        // replaced by a compiled one of our own).
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(elsewhere.path(), b"planted").unwrap();
        let path = entry(dir.path(), &engine, bytes);
        std::os::unix::fs::symlink(elsewhere.path(), &path).unwrap();
        component(&engine, bytes, Some(dir.path())).unwrap();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        assert!(metadata.is_file(), "our own entry now");
        assert_eq!(std::fs::read(elsewhere.path()).unwrap(), b"planted");
        assert_eq!(metadata.mode() & 0o077, 0, "private to its owner");
    }
}
