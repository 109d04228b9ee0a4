//! The operator's TOML file: where the XMPP server is, where the database
//! lives, and one `[[gateway]]` per plugin.
//!
//! ```toml
//! [xmpp]
//! server = "127.0.0.1:5347"      # the XMPP server's component port
//!
//! [store]
//! path = "gatehouse.db"          # SQLite file, created if missing
//!
//! [[gateway]]
//! jid = "echo.localhost"         # the component's JID
//! secret = "s3cret"              # the component secret
//! plugin = "plugins/echo.wasm"   # a WASM component; relative to this file
//! ```
//!
//! A mistake is reported as one line naming the key, so that an operator
//! never has to guess which of forty lines is wrong.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod users;

pub use users::{UserPattern, admitted};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is missing, unknown or mistyped.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key at fault, as a dotted path (`gateway[0].secret`).
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The whole configuration, with paths made absolute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// The XMPP server's component port.
    pub xmpp: XmppConfig,
    /// The database.
    pub store: StoreConfig,
    /// How plugin instances are allocated.
    pub engine: EngineConfig,
    /// What is logged, and how.
    pub log: LogConfig,
    /// The Prometheus endpoint, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsConfig>,
    /// The host's own file endpoint, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<FilesConfig>,
    /// One entry per gateway (component) to run.
    #[serde(rename = "gateway")]
    pub gateways: Vec<GatewayConfig>,
}

/// `[log]`: what is logged, and how. `RUST_LOG`, when set, wins over
/// `level`; `--log-format` over `format`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter: a level (`info`), or a level and per-module
    /// ones (`info,gatehouse::link=debug`).
    #[serde(default = "default_log_level")]
    pub level: String,
    /// `text` (for people) or `json` (one object per line, for collectors).
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
            format: LogFormat::Text,
        }
    }
}

fn default_log_level() -> String {
    "info".to_owned()
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// The address to serve `/metrics` on, such as `127.0.0.1:9464`.
    pub listen: std::net::SocketAddr,
}

/// `[files]`: the host's own HTTP file endpoint, which serves the files
/// plugins send to users (WIRE.md "Files").
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// The address to serve files on, such as `127.0.0.1:8088` (a reverse
    /// proxy in front of it gives them their public URL).
    pub listen: std::net::SocketAddr,
    /// The URL the files are reached at from users' clients, such as
    /// `https://files.example.org/gatehouse/`; a file's URL is this, a
    /// random token, and its name.
    pub url_prefix: String,
    /// Where the files are kept, created if missing. Default: beside the
    /// database, `<store.path without extension>.files`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// How long a file is served (days since it was stored); 0 keeps them
    /// for ever.
    #[serde(default = "default_files_expiry_days")]
    pub expiry_days: u32,
}

fn default_files_expiry_days() -> u32 {
    30
}

/// `[xmpp]`: the XMPP server.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct XmppConfig {
    /// `host:port` of the server's XEP-0114 component listener.
    pub server: String,
}

/// `[store]`: the database.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The SQLite file, created if missing.
    pub path: PathBuf,
    /// How long the message id map keeps a message (days): inside it,
    /// corrections, retractions, reactions, replies and read markers
    /// reach the legacy message; past it the row goes.
    #[serde(default = "default_message_retention_days")]
    pub message_retention_days: u32,
    /// How long the rooms' archives keep a message (days, by its date);
    /// 0, the default, keeps them for ever.
    #[serde(default)]
    pub archive_retention_days: u32,
}

fn default_message_retention_days() -> u32 {
    30
}

/// `[engine]`: how plugin instances are allocated.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Pre-reserve slots for this many plugin instances (the pooling
    /// allocator: faster instantiation, memory reserved up front); 0, the
    /// default, allocates each instance on demand. Count every user of
    /// every gateway, plus the ones a reload briefly doubles.
    #[serde(default)]
    pub pool_instances: u32,
    /// Where compiled plugins are kept, so that a restart or a reload of
    /// an unchanged plugin loads in milliseconds instead of compiling
    /// again (seconds for Python and JavaScript). Default: beside the
    /// database, `<store.path without extension>.cache`.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

/// `[[gateway]]`: one component and the plugin that serves it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The component's JID, a bare domain such as `echo.example.org`.
    pub jid: String,
    /// The shared secret of the component handshake.
    pub secret: String,
    /// The plugin: a WebAssembly component file.
    pub plugin: PathBuf,
    /// Whether a user's legacy session ends when their last XMPP client goes
    /// offline. Off by default, as in slidge: messages from the legacy
    /// network keep flowing to the user's server (and its archive).
    #[serde(default)]
    pub logout_on_unavailable: bool,
    /// The most linear memory one plugin instance (one user) may use, in
    /// MiB; past it, that instance is stopped.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    /// The longest one call into the plugin may run, in milliseconds;
    /// past it, that instance is stopped.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// The wait before a failed login is tried again, in milliseconds;
    /// it doubles at each failure in a row, up to five minutes.
    #[serde(default = "default_login_retry_ms")]
    pub login_retry_ms: u64,
    /// The most one user's plugin key-value store may hold (keys and
    /// values), in KiB.
    #[serde(default = "default_storage_kb")]
    pub storage_kb: u32,
    /// The network addresses the plugin may reach, as `host:port`; `*` for
    /// any port, `*.example.net` for any subdomain. Empty (the default):
    /// none.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Extra CA certificates (PEM files) that plugins' TLS streams trust,
    /// beside the web's roots; relative to this file.
    #[serde(default)]
    pub tls_ca: Vec<PathBuf>,
    /// The most texts (messages, corrections, retractions, reactions) the
    /// plugin may send for one user per second, on average; bursts of
    /// twice that pass. Past it they wait in the user's queue, in order
    /// (receipts, markers and chat states are not counted).
    #[serde(default = "default_messages_per_second")]
    pub messages_per_second: u32,
    /// The most changes of contacts' presences, names and avatars the
    /// plugin may send for one user per second, on average; bursts of
    /// twice that pass. Past it they wait, and a contact's waiting presence
    /// is replaced by its newer one.
    #[serde(default = "default_updates_per_second")]
    pub updates_per_second: u32,
    /// The most one user's waiting stanzas may hold, in KiB; past it the
    /// plugin's calls are refused with `limit-exceeded`.
    #[serde(default = "default_backlog_kb")]
    pub backlog_kb: u32,
    /// The largest stanza the gateway sends, in KiB; a larger one is
    /// dropped and logged, since the XMPP server would close the component
    /// link for every user (Prosody's limit is 512 KiB). Must leave room
    /// for the largest text, avatar (base64) and profile.
    #[serde(default = "default_max_stanza_kb")]
    pub max_stanza_kb: u32,
    /// Who may register: `*`, `*@example.org`, `alice@example.org`.
    /// Default: the users of the gateway's own server (`*@example.org` for
    /// `echo.example.org`). Users registered before a pattern was removed
    /// keep their registration but get no session until it is back.
    #[serde(default)]
    pub allow_users: Vec<UserPattern>,
    /// The most contacts one user may have; `by-legacy-id` refuses new
    /// ones past it.
    #[serde(default = "default_max_contacts")]
    pub max_contacts: u32,
    /// The most groups one user may have; `groups.by-legacy-id` refuses
    /// new ones past it.
    #[serde(default = "default_max_groups")]
    pub max_groups: u32,
    /// The most participants a room may have (the user's own among them);
    /// `participant-by-…` refuses new ones past it.
    #[serde(default = "default_max_participants")]
    pub max_participants: u32,
    /// The most messages the archives of one user's rooms hold together:
    /// past it a live message pushes the oldest out (retention by size),
    /// and `backfill` (archive-only) is refused.
    #[serde(default = "default_max_archive_messages")]
    pub max_archive_messages: u32,
    /// The longest text (message body, correction, contact name, status)
    /// the plugin may send, in KiB. One stanza past the XMPP server's size
    /// limit (Prosody: 512 KiB for components) would make it close the
    /// component link, for every user.
    #[serde(default = "default_max_text_kb")]
    pub max_text_kb: u32,
    /// The largest avatar image the plugin may set, in KiB (sent base64,
    /// a third larger).
    #[serde(default = "default_max_avatar_kb")]
    pub max_avatar_kb: u32,
    /// The largest profile (vCard) the plugin may set, in KiB.
    #[serde(default = "default_max_vcard_kb")]
    pub max_vcard_kb: u32,
    /// The largest file the plugin may send or the user may hand it, in
    /// MiB.
    #[serde(default = "default_max_file_mb")]
    pub max_file_mb: u32,
    /// The bare JIDs of the gateway's administrators: they see and run the
    /// admin ad-hoc commands (list users, kick, reload…). Default: none.
    #[serde(default)]
    pub admins: Vec<String>,
}

impl GatewayConfig {
    /// A gateway with every optional key at its default, as a file with
    /// only `jid`, `secret` and `plugin` would give (paths as they are).
    pub fn new(jid: &str, secret: &str, plugin: impl Into<PathBuf>) -> Self {
        GatewayConfig {
            jid: jid.to_owned(),
            secret: secret.to_owned(),
            plugin: plugin.into(),
            logout_on_unavailable: false,
            memory_mb: default_memory_mb(),
            call_timeout_ms: default_call_timeout_ms(),
            login_retry_ms: default_login_retry_ms(),
            storage_kb: default_storage_kb(),
            allow: Vec::new(),
            tls_ca: Vec::new(),
            messages_per_second: default_messages_per_second(),
            updates_per_second: default_updates_per_second(),
            backlog_kb: default_backlog_kb(),
            max_stanza_kb: default_max_stanza_kb(),
            allow_users: Vec::new(),
            max_contacts: default_max_contacts(),
            max_groups: default_max_groups(),
            max_participants: default_max_participants(),
            max_archive_messages: default_max_archive_messages(),
            max_text_kb: default_max_text_kb(),
            max_avatar_kb: default_max_avatar_kb(),
            max_vcard_kb: default_max_vcard_kb(),
            max_file_mb: default_max_file_mb(),
            admins: Vec::new(),
        }
    }
}

fn default_max_file_mb() -> u32 {
    100
}

fn default_max_contacts() -> u32 {
    50_000
}

fn default_max_groups() -> u32 {
    1_000
}

fn default_max_archive_messages() -> u32 {
    1_000_000
}

fn default_max_participants() -> u32 {
    10_000
}

fn default_max_text_kb() -> u32 {
    64
}

fn default_max_avatar_kb() -> u32 {
    128
}

fn default_max_vcard_kb() -> u32 {
    32
}

fn default_messages_per_second() -> u32 {
    100
}

fn default_updates_per_second() -> u32 {
    1000
}

fn default_backlog_kb() -> u32 {
    16 * 1024
}

fn default_max_stanza_kb() -> u32 {
    256
}

fn default_storage_kb() -> u32 {
    1024
}

fn default_memory_mb() -> u32 {
    64
}

fn default_call_timeout_ms() -> u64 {
    5000
}

fn default_login_retry_ms() -> u64 {
    5000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    xmpp: XmppConfig,
    store: StoreConfig,
    #[serde(default)]
    engine: EngineConfig,
    #[serde(default)]
    log: LogConfig,
    metrics: Option<MetricsConfig>,
    files: Option<FilesConfig>,
    gateway: Vec<GatewayConfig>,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|(key, message)| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            message,
        })
    }

    /// Parses configuration text; relative paths are taken from `base`.
    /// Errors are `(key, message)`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, (String, String)> {
        let deserializer = toml::Deserializer::parse(text).map_err(|e| toml_error(text, &e))?;
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            // An unknown top-level key has an empty path.
            let key = match e.path().to_string() {
                path if path.is_empty() || path == "." => "top level".to_owned(),
                path => path,
            };
            (key, e.into_inner().message().to_owned())
        })?;
        let store_path = base.join(raw.store.path);
        let mut config = Config {
            xmpp: raw.xmpp,
            engine: EngineConfig {
                cache_dir: Some(
                    raw.engine
                        .cache_dir
                        .map(|dir| base.join(dir))
                        .unwrap_or_else(|| store_path.with_extension("cache")),
                ),
                ..raw.engine
            },
            store: StoreConfig {
                path: store_path.clone(),
                ..raw.store
            },
            log: raw.log,
            metrics: raw.metrics,
            files: raw.files.map(|files| FilesConfig {
                dir: Some(
                    files
                        .dir
                        .map(|dir| base.join(dir))
                        .unwrap_or_else(|| store_path.with_extension("files")),
                ),
                ..files
            }),
            gateways: raw
                .gateway
                .into_iter()
                .map(|g| GatewayConfig {
                    plugin: base.join(&g.plugin),
                    tls_ca: g.tls_ca.iter().map(|p| base.join(p)).collect(),
                    ..g
                })
                .collect(),
        };
        config.check()?;
        for gateway in &mut config.gateways {
            // check() has made sure the JID parses.
            if let (true, Ok(jid)) = (
                gateway.allow_users.is_empty(),
                jid::BareJid::new(&gateway.jid),
            ) {
                let server = crate::link::server_domain(&jid);
                gateway.allow_users = vec![UserPattern::domain_of(&server)];
            }
        }
        Ok(config)
    }

    fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: String, message: &str| Err((key, message.to_owned()));
        match self.xmpp.server.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => return bad("xmpp.server".into(), "must be host:port"),
        }
        if self.gateways.is_empty() {
            return bad("gateway".into(), "at least one [[gateway]] is needed");
        }
        if self.store.message_retention_days == 0 {
            return bad("store.message_retention_days".into(), "must be at least 1");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log.level) {
            return bad("log.level".into(), &format!("not a log filter: {e}"));
        }
        if let Some(files) = &self.files
            && !(files.url_prefix.starts_with("https://")
                || files.url_prefix.starts_with("http://"))
        {
            return bad(
                "files.url_prefix".into(),
                "must be an http:// or https:// URL",
            );
        }
        for (i, gateway) in self.gateways.iter().enumerate() {
            if self.gateways[..i].iter().any(|g| g.jid == gateway.jid) {
                return bad(
                    format!("gateway[{i}].jid"),
                    "another [[gateway]] has this JID",
                );
            }
            match jid::BareJid::new(&gateway.jid) {
                Ok(jid) if jid.node().is_none() => {}
                _ => {
                    return bad(
                        format!("gateway[{i}].jid"),
                        "must be a bare domain such as echo.example.org",
                    );
                }
            }
            for (j, admin) in gateway.admins.iter().enumerate() {
                if jid::BareJid::new(admin).is_err() {
                    return bad(
                        format!("gateway[{i}].admins[{j}]"),
                        "must be a bare JID such as admin@example.org",
                    );
                }
            }
            if gateway.secret.is_empty() {
                return bad(format!("gateway[{i}].secret"), "must not be empty");
            }
            for (key, value) in [
                ("messages_per_second", gateway.messages_per_second),
                ("updates_per_second", gateway.updates_per_second),
                ("backlog_kb", gateway.backlog_kb),
                ("max_contacts", gateway.max_contacts),
                ("max_groups", gateway.max_groups),
                ("max_participants", gateway.max_participants),
                ("max_archive_messages", gateway.max_archive_messages),
                ("max_text_kb", gateway.max_text_kb),
                ("max_avatar_kb", gateway.max_avatar_kb),
                ("max_vcard_kb", gateway.max_vcard_kb),
            ] {
                if value == 0 {
                    return bad(format!("gateway[{i}].{key}"), "must be at least 1");
                }
            }
            // What the other limits let through must fit in a stanza: the
            // largest text, an avatar in base64, a profile, and room for
            // the envelope (a text full of `<` escapes past that, and is
            // dropped by the sender's guard rather than sent).
            let needed = (gateway.max_text_kb)
                .max(gateway.max_avatar_kb.saturating_mul(4).div_ceil(3))
                .max(gateway.max_vcard_kb)
                .saturating_add(8);
            if !(needed..=512).contains(&gateway.max_stanza_kb) {
                return bad(
                    format!("gateway[{i}].max_stanza_kb"),
                    &format!(
                        "must be from {needed} (the largest text, avatar in base64 or profile, and 8 KiB) to 512 (Prosody's limit)"
                    ),
                );
            }
            if !(100..=300_000).contains(&gateway.login_retry_ms) {
                return bad(
                    format!("gateway[{i}].login_retry_ms"),
                    "must be from 100 to 300000 (five minutes)",
                );
            }
            if !(1..=4096).contains(&gateway.memory_mb) {
                return bad(format!("gateway[{i}].memory_mb"), "must be from 1 to 4096");
            }
            if !(10..=600_000).contains(&gateway.call_timeout_ms) {
                return bad(
                    format!("gateway[{i}].call_timeout_ms"),
                    "must be from 10 to 600000",
                );
            }
            for (j, pattern) in gateway.allow.iter().enumerate() {
                if crate::plugin::Grant::parse(pattern).is_none() {
                    return bad(
                        format!("gateway[{i}].allow[{j}]"),
                        "must be host:port, host:*, or *.domain:port",
                    );
                }
            }
            if self.gateways[..i].iter().any(|g| g.jid == gateway.jid) {
                return bad(format!("gateway[{i}].jid"), "is used by an earlier gateway");
            }
        }
        Ok(())
    }
}

/// One line for a TOML syntax error: its line number and message.
fn toml_error(text: &str, error: &toml::de::Error) -> (String, String) {
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
    let key = match line {
        Some(line) => format!("line {line}"),
        None => "TOML".to_owned(),
    };
    (key, error.message().trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[xmpp]
server = "127.0.0.1:5347"

[store]
path = "g.db"

[[gateway]]
jid = "echo.localhost"
secret = "s3cret"
plugin = "plugins/echo.wasm"
"#;

    fn error_of(text: &str) -> (String, String) {
        Config::parse(text, Path::new("/etc/gh")).unwrap_err()
    }

    #[test]
    fn a_good_file_parses_with_paths_relative_to_it() {
        let config = Config::parse(GOOD, Path::new("/etc/gh")).unwrap();
        assert_eq!(config.xmpp.server, "127.0.0.1:5347");
        assert_eq!(config.store.path, Path::new("/etc/gh/g.db"));
        assert_eq!(config.gateways.len(), 1);
        assert_eq!(
            config.gateways[0].plugin,
            Path::new("/etc/gh/plugins/echo.wasm")
        );
        assert!(!config.gateways[0].logout_on_unavailable);
        assert_eq!(config.gateways[0].memory_mb, 64);
        assert_eq!(config.gateways[0].call_timeout_ms, 5000);
        assert_eq!(config.gateways[0].storage_kb, 1024);
        assert_eq!(config.engine.pool_instances, 0, "on demand by default");
        let defaults = GatewayConfig::new("echo.localhost", "s3cret", "/etc/gh/plugins/echo.wasm");
        assert_eq!(
            (
                config.gateways[0].max_contacts,
                config.gateways[0].max_text_kb
            ),
            (defaults.max_contacts, defaults.max_text_kb)
        );
        assert_eq!(
            (
                config.gateways[0].max_avatar_kb,
                config.gateways[0].max_vcard_kb
            ),
            (defaults.max_avatar_kb, defaults.max_vcard_kb)
        );
        assert_eq!(
            config.gateways[0].allow_users,
            vec![UserPattern::Domain("localhost".into())],
            "the server's own users by default"
        );
        let pooled = Config::parse(
            &format!("{GOOD}\n[engine]\npool_instances = 2000\n"),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(pooled.engine.pool_instances, 2000);
    }

    #[test]
    fn a_missing_key_is_named() {
        let (key, message) = error_of(&GOOD.replace("secret = \"s3cret\"\n", ""));
        assert_eq!(key, "gateway[0]");
        assert!(message.contains("secret"), "{message}");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let (key, message) = error_of(&GOOD.replace("[store]", "[store]\npaht = 1"));
        assert_eq!(key, "store.paht");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn an_unknown_top_level_key_says_so() {
        // Found by fuzzing: the key was empty.
        let (key, message) = error_of("''=''");
        assert_eq!(key, "top level");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn a_mistyped_value_is_named() {
        let (key, _) = error_of(&GOOD.replace("\"g.db\"", "3"));
        assert_eq!(key, "store.path");
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            error_of(&GOOD.replace("127.0.0.1:5347", "localhost")).0,
            "xmpp.server"
        );
        assert_eq!(
            error_of(&GOOD.replace("echo.localhost", "user@echo")).0,
            "gateway[0].jid"
        );
        assert_eq!(
            error_of(&GOOD.replace("\"s3cret\"", "\"\"")).0,
            "gateway[0].secret"
        );
        assert_eq!(
            error_of(&GOOD.replace("plugin =", "memory_mb = 0\nplugin =")).0,
            "gateway[0].memory_mb"
        );
        let twice = format!(
            "{GOOD}\n[[gateway]]\njid = \"echo.localhost\"\nsecret = \"x\"\nplugin = \"p\"\n"
        );
        assert_eq!(error_of(&twice).0, "gateway[1].jid");
        assert_eq!(
            error_of(&GOOD.replace("plugin =", "max_text_kb = 0\nplugin =")).0,
            "gateway[0].max_text_kb"
        );
        // An avatar of 300 KiB is 400 KiB in base64: no room under 256.
        let (key, message) = error_of(&GOOD.replace("plugin =", "max_avatar_kb = 300\nplugin ="));
        assert_eq!(key, "gateway[0].max_stanza_kb");
        assert!(message.contains("from 408"), "{message}");
        assert_eq!(
            error_of(&GOOD.replace("plugin =", "max_stanza_kb = 600\nplugin =")).0,
            "gateway[0].max_stanza_kb"
        );
        let (key, message) =
            error_of(&GOOD.replace("plugin =", "allow_users = [\"*\", \"@x\"]\nplugin ="));
        assert_eq!(key, "gateway[0].allow_users[1]");
        assert!(message.contains("*@domain"), "{message}");
    }

    #[test]
    fn a_syntax_error_gives_its_line() {
        let (key, _) = error_of("[xmpp]\nserver = \n");
        assert_eq!(key, "line 2");
    }
}
