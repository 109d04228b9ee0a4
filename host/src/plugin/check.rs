//! `gatehouse plugin check`: does a file hold a plugin this host can run?
//!
//! A plugin author's first question after a build, answered before any
//! configuration exists: is it a component at all, which version of the
//! contract was it built against, which capabilities does it ask for, and
//! does it really link and answer `gateway-info` here. The structural part
//! reads the file with wasmparser (fast, exact messages); the last part is
//! the host's own loading path, so "check passes" means "the host loads it".

use std::path::Path;

use wasmtime::Engine;
use wasmtime::wasmparser::{Parser, Payload, Validator, WasmFeatures};

use super::state::{HostState, Imports};
use super::{GatewayInfo, Limits, PluginRuntime};

/// The contract this host speaks, as written in `wit/gateway.wit`.
const WIT: &str = include_str!("../../../wit/gateway.wit");

/// The contract's package name.
pub const CONTRACT_PACKAGE: &str = "gatehouse:gateway";

/// The contract version this host implements (`package …@X;` in the WIT).
pub fn contract_version() -> &'static str {
    WIT.lines()
        .find_map(|line| line.trim().strip_prefix("package gatehouse:gateway@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .unwrap_or("0.0.0")
}

/// Two versions are compatible when semver says so: the same major
/// version, and for 0.x the same minor version (so 0.1.0 and 0.1.4 are,
/// 0.1 and 0.2 are not). wasmtime links semver-compatible names the same
/// way, which is what makes the rule hold at load time.
pub fn compatible(a: &str, b: &str) -> bool {
    let key = |v: &str| -> Option<(u64, u64)> {
        let core = v.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        Some(if major == 0 { (0, minor) } else { (major, 0) })
    };
    matches!((key(a), key(b)), (Some(x), Some(y)) if x == y)
}

/// True when version `a` is later than `b` (numerically, major.minor.patch).
fn newer_than(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['-', '+'])
            .next()
            .unwrap_or("")
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(a) > parts(b)
}

/// What a plugin file holds, and what is wrong with it.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// The file's size in bytes.
    pub size: usize,
    /// The contract version the plugin was built against, from its names.
    pub contract_version: Option<String>,
    /// Every import, with what it grants.
    pub imports: Vec<Import>,
    /// The component's export names.
    pub exports: Vec<String>,
    /// What the plugin said about its network, once it loaded.
    pub info: Option<GatewayInfo>,
    /// Why the host would refuse it; empty when it would run it.
    pub problems: Vec<String>,
}

/// One import of a plugin and what the host gives it.
#[derive(Debug)]
pub struct Import {
    /// The interface name, e.g. `wasi:clocks/wall-clock@0.2.6`.
    pub name: String,
    /// What the host provides under that name; `None` when it provides
    /// nothing (a problem).
    pub grant: Option<&'static str>,
}

impl CheckReport {
    /// True when the host would load the plugin.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "size: {} bytes", self.size)?;
        match &self.contract_version {
            Some(v) => writeln!(
                f,
                "contract: {CONTRACT_PACKAGE}@{v} (this host: {})",
                contract_version()
            )?,
            None => writeln!(f, "contract: none found")?,
        }
        if !self.imports.is_empty() {
            writeln!(f, "imports:")?;
            // One line per package and version: `wasi:cli@0.2.9 (stdout,
            // stderr…)`, with what the host grants under it.
            let mut lines: Vec<(String, Vec<&str>, Option<&str>)> = Vec::new();
            for import in &self.imports {
                let (interface, version) =
                    import.name.split_once('@').unwrap_or((&import.name, ""));
                let (package, item) = interface.split_once('/').unwrap_or((interface, ""));
                let key = format!("{package}@{version}");
                match lines
                    .iter_mut()
                    .find(|(k, _, g)| *k == key && *g == import.grant)
                {
                    Some((_, items, _)) => items.push(item),
                    None => lines.push((key, vec![item], import.grant)),
                }
            }
            for (package, items, grant) in lines {
                let grant = grant.unwrap_or("NOT PROVIDED by this host");
                writeln!(f, "  {package} ({}): {grant}", items.join(", "))?;
            }
        }
        if !self.exports.is_empty() {
            writeln!(f, "exports: {}", self.exports.join(", "))?;
        }
        if let Some(info) = &self.info {
            writeln!(
                f,
                "network: {} (type {}), registration fields: {}",
                info.name,
                info.network_type,
                info.form
                    .fields
                    .iter()
                    .map(|field| field.var.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        for problem in &self.problems {
            writeln!(f, "error: {problem}")?;
        }
        write!(f, "{}", if self.ok() { "ok" } else { "refused" })
    }
}

/// What a plugin built against 0.1 of the contract must change to run on
/// 0.2, told by `check` to its author.
const FROM_0_1: &str = "0.2 changed: every export that took `borrow<contact>` takes an owned \
     `contact`; `by-legacy-id` takes no `jid-username` (export `legacy-id-to-jid-username` \
     instead); the plugin must also export `legacy-id-to-jid-username` and `on-http-response` \
     (HTTP goes through `session.http-request`). Rebuild with this host's SDK or WIT \
     (`gatehouse plugin new` writes both)";

/// What a plugin built against 0.2 must add to run on 0.3.
const FROM_0_2: &str = "0.3 added groups: the plugin must also export `fill-bookmarks`, \
     `fill-participants`, `update-muc-info`, `backfill`, `jid-username-to-muc-legacy-id`, \
     `muc-legacy-id-to-jid-username` and the `on-muc-…` handlers (the Rust SDK's defaults do \
     nothing); rebuild with this host's SDK or WIT";

/// Checks the plugin at `path` as the host would load it, with sessions
/// whose state is `S`.
pub async fn check<S: Send + 'static>(engine: &Engine, path: &Path) -> CheckReport
where
    HostState<S>: Imports,
{
    let mut report = CheckReport::default();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            report
                .problems
                .push(format!("cannot read {}: {e}", path.display()));
            return report;
        }
    };
    report.size = bytes.len();
    if !inspect(&bytes, &mut report) {
        return report;
    }
    let limits = Limits {
        memory_mb: 256,
        call_timeout: std::time::Duration::from_secs(30),
    };
    match PluginRuntime::<S>::load(engine, path, limits, None).await {
        Ok(runtime) => report.info = Some(runtime.info),
        Err(e) => {
            let newer = report
                .contract_version
                .as_deref()
                .is_some_and(|v| newer_than(v, contract_version()));
            let hint = if newer {
                " (the plugin was built against a later contract than this host's: it may use \
                 a function added since; upgrade the host)"
            } else {
                ""
            };
            report
                .problems
                .push(format!("the host cannot load it: {e}{hint}"));
        }
    }
    report
}

/// The structural checks; false when loading it cannot even be tried.
fn inspect(bytes: &[u8], report: &mut CheckReport) -> bool {
    if Parser::is_core_wasm(bytes) {
        report.problems.push(
            "this is a core WebAssembly module, not a component: build for \
             wasm32-wasip2 (Rust), with componentize-py or componentize-js, or wrap \
             a module with `wasm-tools component new`"
                .to_owned(),
        );
        return false;
    }
    if !Parser::is_component(bytes) {
        report.problems.push(
            "not a WebAssembly component (the file does not start with the component header)"
                .to_owned(),
        );
        return false;
    }
    if let Err(e) = Validator::new_with_features(WasmFeatures::all()).validate_all(bytes) {
        report.problems.push(format!(
            "not a valid component (truncated or corrupted?): {e}"
        ));
        return false;
    }
    read_names(bytes, report);
    let ours = contract_version();
    for import in &mut report.imports {
        import.grant = grant(&import.name);
        if import.grant.is_none() {
            report.problems.push(format!(
                "imports {}, which is not part of the contract: this host provides \
                 {CONTRACT_PACKAGE}@{ours} and WASI 0.2 only",
                import.name
            ));
        }
    }
    let plugin_export = report
        .exports
        .iter()
        .find(|name| name.starts_with(&format!("{CONTRACT_PACKAGE}/plugin")));
    match plugin_export {
        None => report.problems.push(format!(
            "exports no {CONTRACT_PACKAGE}/plugin interface: this component was built for \
             another world (it exports: {}); build it against wit/gateway.wit, world \
             gateway-plugin",
            if report.exports.is_empty() {
                "nothing".to_owned()
            } else {
                report.exports.join(", ")
            }
        )),
        Some(name) => report.contract_version = version_of(name).map(str::to_owned),
    }
    let (mut built_for_0_1, mut built_for_0_2) = (false, false);
    for name in report
        .imports
        .iter()
        .map(|i| &i.name)
        .chain(plugin_export)
        .filter(|name| name.starts_with(CONTRACT_PACKAGE))
    {
        match version_of(name) {
            Some(v) if compatible(v, ours) => {}
            Some(v) => {
                built_for_0_1 |= compatible(v, "0.1.0");
                built_for_0_2 |= compatible(v, "0.2.0");
                report.problems.push(format!(
                    "{name} is contract version {v}, which this host ({ours}) does not speak: \
                     rebuild the plugin against this host's wit/gateway.wit"
                ))
            }
            None => report.problems.push(format!(
                "{name} has no version: build against wit/gateway.wit ({CONTRACT_PACKAGE}@{ours})"
            )),
        }
    }
    if built_for_0_1 {
        report.problems.push(FROM_0_1.to_owned());
    }
    if (built_for_0_1 || built_for_0_2) && compatible(ours, "0.3.0") {
        report.problems.push(FROM_0_2.to_owned());
    }
    report.problems.is_empty()
}

/// Collects the outer component's import and export names (nested modules
/// and components have their own, which are not the plugin's interface).
fn read_names(bytes: &[u8], report: &mut CheckReport) {
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else { return };
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader.into_iter().flatten() {
                    report.imports.push(Import {
                        name: import.name.name.to_owned(),
                        grant: None,
                    });
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader.into_iter().flatten() {
                    report.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
}

/// `0.1.0` of `gatehouse:gateway/roster@0.1.0`.
fn version_of(name: &str) -> Option<&str> {
    name.split_once('@').map(|(_, v)| v)
}

/// What the host gives a plugin under an import name, or `None`.
fn grant(name: &str) -> Option<&'static str> {
    let interface = name.split('@').next().unwrap_or(name);
    if let Some(rest) = interface.strip_prefix("gatehouse:gateway/") {
        return match rest {
            "types" | "roster" | "groups" | "session" => Some("the contract"),
            _ => None,
        };
    }
    let version = version_of(name).unwrap_or("");
    if !interface.starts_with("wasi:") || !compatible(version, "0.2.0") {
        return None;
    }
    Some(match interface.split('/').next().unwrap_or("") {
        "wasi:cli" => "WASI cli: no arguments, empty environment, output discarded",
        "wasi:clocks" => "WASI clocks",
        "wasi:random" => "WASI random",
        "wasi:io" => "WASI streams and polling",
        "wasi:filesystem" => "WASI files: none (no directory is shared)",
        "wasi:sockets" => "WASI sockets: every address denied (use session.open-stream)",
        "wasi:http" => "WASI HTTP: only the hosts in the gateway's `allow` list",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_version_is_read_from_the_wit() {
        let version = contract_version();
        assert_ne!(version, "0.0.0");
        assert!(compatible(version, version));
    }

    #[test]
    fn compatibility_follows_semver() {
        assert!(compatible("0.1.0", "0.1.7"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(compatible("1.2.0", "1.0.3"));
        assert!(!compatible("1.0.0", "2.0.0"));
        assert!(!compatible("0.1.0", "1.1.0"));
        assert!(compatible("0.2.0-rc-2023-10-25", "0.2.6"));
        assert!(!compatible("", "0.1.0"));
        assert!(!compatible("x.y", "0.1.0"));
        assert!(newer_than("0.1.7", "0.1.0"));
        assert!(!newer_than("0.1.0", "0.1.0"));
        assert!(newer_than("0.10.0", "0.9.1"));
    }

    #[test]
    fn imports_are_classified() {
        assert_eq!(
            grant("gatehouse:gateway/roster@0.1.0"),
            Some("the contract")
        );
        assert!(grant("gatehouse:gateway/admin@0.1.0").is_none());
        assert!(grant("wasi:sockets/tcp@0.2.9").is_some());
        assert!(grant("wasi:sockets/tcp@0.3.0").is_none());
        assert!(grant("wasi:keyvalue/store@0.2.0-draft").is_none());
        assert!(grant("acme:raw/net@1.0.0").is_none());
    }

    #[test]
    fn a_core_module_and_garbage_are_named() {
        let mut report = CheckReport::default();
        // The smallest core module: magic and version 1.
        assert!(!inspect(b"\0asm\x01\0\0\0", &mut report));
        assert!(report.problems[0].contains("core WebAssembly module"));
        let mut report = CheckReport::default();
        assert!(!inspect(b"#!/bin/sh\n", &mut report));
        assert!(report.problems[0].contains("not a WebAssembly component"));
        // A component header and then nothing valid.
        let mut report = CheckReport::default();
        assert!(!inspect(b"\0asm\x0d\0\x01\0\x07\x05", &mut report));
        assert!(report.problems[0].contains("truncated"), "{report}");
    }
}
