//! The harness shared by Gatehouse's integration tests: an in-process fake
//! XMPP server for wire tests, a real Prosody or ejabberd for end-to-end tests, the
//! gateway under test, a Rust c2s client for load, and the paths of the
//! built plugins.

use std::path::{Path, PathBuf};
use std::time::Duration;

use minidom::Element;

pub mod c2s;
pub mod ejabberd;
pub mod fake_server;
pub mod fuzz;
pub mod http;
pub mod irc;
pub mod measure;
pub mod process;
pub mod prosody;
pub mod server;

pub use fake_server::{FakeLink, FakeServer};

/// The gateway JID every test uses.
pub const GATEWAY: &str = "echo.localhost";
/// Its component secret.
pub const SECRET: &str = "wire-secret";
/// The user domain of the tests.
pub const DOMAIN: &str = "localhost";

/// The workspace's root folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// A built plugin, at the stable path `scripts/build-plugins` copies it to.
pub fn plugin(name: &str) -> PathBuf {
    let path = workspace()
        .join("target/plugins")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-plugins first",
        path.display()
    );
    path
}

/// Logs of the code under test, shown for failing tests (`RUST_LOG` picks).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// The gateway under test, run in-process against a server address, with
/// its database in a temporary folder that outlives restarts.
pub struct TestGateway {
    /// Holds the database and the configuration.
    pub dir: tempfile::TempDir,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestGateway {
    /// Writes a configuration for one echo gateway and starts it.
    pub fn start(server: &str, extra: &str) -> Self {
        Self::start_plugin(server, "echo", extra)
    }

    /// The same with another built plugin.
    pub fn start_plugin(server: &str, plugin_name: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut gateway = TestGateway { dir, task: None };
        gateway.write_config(server, plugin_name, extra);
        gateway.restart();
        gateway
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("gatehouse.toml")
    }

    /// The gateway's own copy of its plugin (tests may replace it), in a
    /// folder of its own as operators should keep it: the watcher wakes at
    /// every change in the plugin's folder.
    pub fn plugin_path(&self) -> PathBuf {
        self.dir.path().join("plugins").join("plugin.wasm")
    }

    fn write_config(&self, server: &str, plugin_name: &str, extra: &str) {
        std::fs::create_dir_all(self.dir.path().join("plugins")).expect("plugins folder");
        std::fs::copy(plugin(plugin_name), self.plugin_path()).expect("copy the plugin");
        let config = format!(
            "[xmpp]\nserver = \"{server}\"\n\n[store]\npath = \"gatehouse.db\"\n\n\
             [[gateway]]\njid = \"{GATEWAY}\"\nsecret = \"{SECRET}\"\nplugin = \"plugins/plugin.wasm\"\n{extra}\n"
        );
        std::fs::write(self.config_path(), config).expect("write the configuration");
    }

    /// Stops the gateway (as a crash would: no goodbye) and starts it again
    /// on the same database.
    pub fn restart(&mut self) {
        self.stop();
        let config =
            gatehouse::config::Config::load(&self.config_path()).expect("test configuration");
        self.task = Some(tokio::spawn(async move {
            if let Err(e) = gatehouse::run(config).await {
                panic!("gateway failed: {e}");
            }
        }));
    }

    /// Stops the gateway.
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A wire test's world: the fake server, the gateway connected to it, and
/// the link between them, settled (privileges known).
pub struct Wire {
    /// The fake server.
    pub server: FakeServer,
    /// The gateway's connection.
    pub link: FakeLink,
    /// The gateway.
    pub gateway: TestGateway,
}

/// The XEP-0356 grant Prosody's mod_privilege sends.
pub const PRIVILEGE: &str = "<message from='localhost' to='echo.localhost'>\
    <privilege xmlns='urn:xmpp:privilege:2'><perm access='roster' type='both'/>\
    <perm access='message' type='outgoing'/></privilege></message>";

impl Wire {
    /// Starts a gateway against a fake server; the server grants the roster
    /// privilege if `privileged`.
    pub async fn start(privileged: bool) -> Wire {
        Self::start_plugin(privileged, "echo").await
    }

    /// The same with another built plugin.
    pub async fn start_plugin(privileged: bool, plugin_name: &str) -> Wire {
        Self::start_with(privileged, plugin_name, "").await
    }

    /// The same with extra `[[gateway]]` keys (limits…).
    pub async fn start_with(privileged: bool, plugin_name: &str, extra: &str) -> Wire {
        init_logging();
        let server = FakeServer::bind().await;
        let gateway = TestGateway::start_plugin(&server.addr.to_string(), plugin_name, extra);
        let link = Self::connect(&server, privileged).await;
        Wire {
            server,
            link,
            gateway,
        }
    }

    /// Accepts the gateway's (next) connection and settles it.
    pub async fn connect(server: &FakeServer, privileged: bool) -> FakeLink {
        let mut link = server.accept(SECRET).await;
        if privileged {
            link.send(PRIVILEGE).await;
        }
        // What the outbox held across a reconnection may come first (an
        // answer, a push): the settle ping is the gateway's ping to the
        // server's domain.
        let ping = link
            .recv_until("the settle ping", |e| {
                e.is("iq", fake_server::NS)
                    && e.attr("type") == Some("get")
                    && e.attr("to") == Some(DOMAIN)
                    && e.has_child("ping", "urn:xmpp:ping")
            })
            .await;
        assert_eq!(ping.attr("type"), Some("get"));
        assert_eq!(ping.attr("to"), Some(DOMAIN));
        assert!(ping.has_child("ping", "urn:xmpp:ping"));
        let id = ping.attr("id").expect("ping id").to_owned();
        link.send(&format!(
            "<iq type='result' id='{id}' from='{DOMAIN}' to='{GATEWAY}'/>"
        ))
        .await;
        link
    }

    /// Registers `user` (a bare JID) with the echo network, and waits for
    /// the gateway's status presence that ends the login.
    pub async fn register(&mut self, user: &str, username: &str, contacts: u32) {
        self.link
            .send(&register_iq(user, "reg1", username, &contacts.to_string()))
            .await;
        let result = self
            .link
            .recv_until("the registration result", |e| {
                e.is("iq", fake_server::NS) && e.attr("id") == Some("reg1")
            })
            .await;
        assert_eq!(
            result.attr("type"),
            Some("result"),
            "{}",
            String::from(&result)
        );
        self.logged_in(user).await;
    }

    /// Waits for the gateway's logged-in status presence to `user`.
    pub async fn logged_in(&mut self, user: &str) -> Element {
        self.link
            .recv_until("the logged-in status presence", |e| {
                e.is("presence", fake_server::NS)
                    && e.attr("from") == Some(GATEWAY)
                    && e.attr("to") == Some(user)
                    && e.attr("type").is_none()
                    && e.get_child("show", fake_server::NS).is_none()
            })
            .await
    }
}

/// A registration form submission to the echo gateway, with no groups
/// (the contacts' tests see only contacts' stanzas).
pub fn register_iq(user: &str, id: &str, username: &str, contacts: &str) -> String {
    register_iq_with_groups(user, id, username, contacts, "0")
}

/// The same with `groups` groups (ECHO.md "Groups").
pub fn register_iq_with_groups(
    user: &str,
    id: &str,
    username: &str,
    contacts: &str,
    groups: &str,
) -> String {
    format!(
        "<iq type='set' id='{id}' from='{user}/test' to='{GATEWAY}'>\
         <query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>\
         <field var='username'><value>{username}</value></field>\
         <field var='contacts'><value>{contacts}</value></field>\
         <field var='groups'><value>{groups}</value></field></x></query></iq>"
    )
}

/// A free TCP port on loopback (bound then released).
///
/// Never the same port twice in one test process: tests run in parallel,
/// and a port one test picked (and released for its server to bind) could
/// otherwise come back to another, whose gateway would then reach the
/// wrong server.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if GIVEN.lock().unwrap_or_else(|p| p.into_inner()).insert(port) {
            return port;
        }
    }
}

/// Waits until something listens on a loopback port.
pub fn wait_for_port(port: u16, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The text of a child element, if present.
pub fn child_text(el: &Element, name: &str, ns: &str) -> Option<String> {
    el.get_child(name, ns).map(Element::text)
}
