//! `gatehouse plugin new`: a buildable plugin skeleton in Rust, JavaScript
//! or Python.
//!
//! Each skeleton carries the contract (`wit/gateway.wit`) of the host that
//! wrote it, so it builds against exactly the version this host speaks; the
//! Rust one also carries the Rust SDK (`gatehouse-guest/`), vendored from
//! this host's source, so it needs nothing beyond crates.io.

use std::path::{Path, PathBuf};

use crate::plugin::check::contract_version;

/// A language a skeleton can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust, with the `gatehouse-guest` SDK (cargo's wasm32-wasip2 target).
    Rust,
    /// JavaScript, built with componentize-js (npm).
    Js,
    /// Python, built with componentize-py (PyPI).
    Python,
}

/// Why a skeleton could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot be a package name in every language.
    #[error(
        "{0:?} is not a usable plugin name: use lower-case letters, digits and '-', starting with a letter"
    )]
    Name(String),
    /// The folder is already there.
    #[error("{0} already exists")]
    Exists(PathBuf),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

const WIT: &str = include_str!("../../wit/gateway.wit");

/// The Rust SDK's files, as `(path in gatehouse-guest/, text)`.
const RUST_SDK: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../templates/rust/sdk-Cargo.toml"),
    ),
    ("src/lib.rs", include_str!("../../guest-sdk/src/lib.rs")),
    (
        "src/contact.rs",
        include_str!("../../guest-sdk/src/contact.rs"),
    ),
    ("src/error.rs", include_str!("../../guest-sdk/src/error.rs")),
    (
        "src/groups.rs",
        include_str!("../../guest-sdk/src/groups.rs"),
    ),
    (
        "src/export.rs",
        include_str!("../../guest-sdk/src/export.rs"),
    ),
    ("src/http.rs", include_str!("../../guest-sdk/src/http.rs")),
    (
        "src/session.rs",
        include_str!("../../guest-sdk/src/session.rs"),
    ),
    ("src/task.rs", include_str!("../../guest-sdk/src/task.rs")),
];

/// The skeleton's own files per language, as `(path, template)`.
fn templates(lang: Language) -> &'static [(&'static str, &'static str)] {
    match lang {
        Language::Rust => &[
            (
                "Cargo.toml",
                include_str!("../templates/rust/Cargo.toml.in"),
            ),
            ("src/lib.rs", include_str!("../templates/rust/src/lib.rs")),
            ("README.md", include_str!("../templates/rust/README.md")),
            (".gitignore", include_str!("../templates/rust/gitignore")),
        ],
        Language::Js => &[
            ("package.json", include_str!("../templates/js/package.json")),
            ("plugin.js", include_str!("../templates/js/plugin.js")),
            ("README.md", include_str!("../templates/js/README.md")),
            (".gitignore", include_str!("../templates/js/gitignore")),
        ],
        Language::Python => &[
            ("app.py", include_str!("../templates/python/app.py")),
            (
                "requirements.txt",
                include_str!("../templates/python/requirements.txt"),
            ),
            ("README.md", include_str!("../templates/python/README.md")),
            (".gitignore", include_str!("../templates/python/gitignore")),
        ],
    }
}

/// Writes a skeleton for a plugin named after `dir`'s last component into
/// the new folder `dir`.
pub fn write(dir: &Path, lang: Language) -> Result<(), ScaffoldError> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if !valid_name(&name) {
        return Err(ScaffoldError::Name(name));
    }
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir.to_owned()));
    }
    let fill = |template: &str| {
        template
            .replace("{{name}}", &name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{version}}", contract_version())
    };
    let mut files: Vec<(PathBuf, String)> = templates(lang)
        .iter()
        .map(|(path, text)| (dir.join(path), fill(text)))
        .collect();
    files.push((dir.join("wit/gateway.wit"), WIT.to_owned()));
    if lang == Language::Rust {
        files.extend(
            RUST_SDK
                .iter()
                .map(|(path, text)| (dir.join("gatehouse-guest").join(path), fill(text))),
        );
    }
    for (path, text) in files {
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        written.map_err(|source| ScaffoldError::Write { path, source })?;
    }
    Ok(())
}

/// What to run next, printed after the skeleton is written.
pub fn next_steps(dir: &Path, lang: Language) -> String {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let d = dir.display();
    let (build, wasm) = match lang {
        Language::Rust => (
            format!("cd {d} && cargo build --target wasm32-wasip2 --release"),
            format!(
                "{d}/target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
        ),
        Language::Js => (
            format!("cd {d} && npm install && npm run build"),
            format!("{d}/{name}.wasm"),
        ),
        Language::Python => (
            format!(
                "cd {d} && python3 -m venv venv && venv/bin/pip install -r requirements.txt && \
                 venv/bin/componentize-py -d wit -w gateway-plugin componentize app -o {name}.wasm"
            ),
            format!("{d}/{name}.wasm"),
        ),
    };
    format!(
        "wrote {d} (contract gatehouse:gateway@{}). Next:\n  {build}\n  gatehouse plugin check {wasm}",
        contract_version()
    )
}

/// A name every toolchain accepts as a package name.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendored SDK's manifest names the same dependencies as the real
    /// one (which inherits them from the workspace).
    #[test]
    fn the_vendored_sdk_has_the_real_sdks_dependencies() {
        let dependencies = |text: &str| -> Vec<String> {
            let manifest: toml::Table = toml::from_str(text).unwrap();
            let mut names: Vec<String> = manifest["dependencies"]
                .as_table()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            dependencies(include_str!("../templates/rust/sdk-Cargo.toml")),
            dependencies(include_str!("../../guest-sdk/Cargo.toml"))
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("irc"));
        assert!(valid_name("my-network2"));
        for bad in ["", "2fast", "Caps", "a_b", "a b", "a-", "../x", "é"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn each_language_writes_its_files_with_the_name_filled_in() {
        let root = tempfile::tempdir().unwrap();
        for (lang, main) in [
            (Language::Rust, "src/lib.rs"),
            (Language::Js, "plugin.js"),
            (Language::Python, "app.py"),
        ] {
            let dir = root.path().join(format!("net-{lang:?}").to_lowercase());
            write(&dir, lang).unwrap();
            let text = std::fs::read_to_string(dir.join(main)).unwrap();
            assert!(!text.contains("{{"), "{main}: a placeholder is left");
            assert!(std::fs::read_to_string(dir.join("wit/gateway.wit")).unwrap() == WIT);
            assert!(matches!(write(&dir, lang), Err(ScaffoldError::Exists(_))));
        }
        assert!(
            root.path()
                .join("net-rust/gatehouse-guest/src/task.rs")
                .exists()
        );
    }
}
