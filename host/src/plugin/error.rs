//! Why a plugin could not be loaded or called.

use std::path::PathBuf;

/// Why a plugin could not be loaded or called.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("plugin {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a component wasmtime can compile.
    #[error("plugin {path} does not compile: {reason}")]
    Compile {
        /// The file.
        path: PathBuf,
        /// wasmtime's reason.
        reason: String,
    },
    /// The component does not fit the contract.
    #[error("plugin {path} does not fit the gatehouse:gateway contract: {reason}")]
    Link {
        /// The file.
        path: PathBuf,
        /// wasmtime's reason.
        reason: String,
    },
    /// Instantiation failed.
    #[error("plugin instantiation failed: {0}")]
    Instantiate(String),
    /// A call trapped (a panic, an abort, a bad memory access…); the
    /// instance is dead.
    #[error("the plugin crashed: {0}")]
    Trap(String),
    /// A call ran past its deadline and was stopped; the instance is dead.
    #[error("the plugin ran past its {0} ms deadline and was stopped")]
    Deadline(u64),
    /// The instance asked for more memory than its cap; it is dead.
    #[error("the plugin used more than its {0} MiB of memory and was stopped")]
    Memory(u32),
}

impl PluginError {
    /// The metric label of a failed call.
    pub fn failure_label(&self) -> &'static str {
        match self {
            PluginError::Deadline(_) => "deadline",
            PluginError::Memory(_) => "memory",
            _ => "trap",
        }
    }
}
