//! The compiled-component cache: compiling a plugin takes 50 ms (Rust) to
//! several seconds (Python, JavaScript); loading its compiled form takes a
//! fraction of a millisecond. Entries are keyed by the component's SHA-256
//! and the engine's compatibility hash, so a changed plugin, a new wasmtime
//! or another engine configuration never loads a stale artifact.

use std::hash::{DefaultHasher, Hash, Hasher};
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
    let entry = entry(dir, engine, bytes);
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
    if let Err(e) = store(dir, &entry, &compiled) {
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

/// Writes an entry atomically (a reader never sees half a file).
fn store(dir: &Path, entry: &Path, compiled: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let partial = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&partial, compiled)?;
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
}
