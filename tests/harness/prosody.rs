//! A private Prosody for end-to-end tests: its own folder, config, data and
//! loopback ports, started by the test and stopped by it (by pid).
//!
//! The config enables `mod_privilege` (from `prosody-modules`) on the
//! virtual host *and* on each component: without the latter Prosody never
//! sends the `<privilege/>` grant.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_for_port};

/// A running Prosody.
pub struct Prosody {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The client-to-server port.
    pub c2s_port: u16,
    /// The component port.
    pub component_port: u16,
    components: Vec<(String, String)>,
}

impl Prosody {
    /// Starts Prosody with a virtual host `localhost` and these components
    /// (`(jid, secret)`), each privileged for roster and messages.
    pub fn start(components: &[(&str, &str)]) -> Prosody {
        Self::start_on(free_port(), free_port(), components)
    }

    /// The same on given loopback ports.
    pub fn start_on(c2s_port: u16, component_port: u16, components: &[(&str, &str)]) -> Prosody {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut prosody = Prosody {
            dir,
            child: None,
            c2s_port,
            component_port,
            components: components
                .iter()
                .map(|(j, s)| (j.to_string(), s.to_string()))
                .collect(),
        };
        prosody.write_config();
        prosody.launch();
        prosody
    }

    /// The config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("prosody.cfg.lua")
    }

    /// `host:port` of the component listener.
    pub fn component_address(&self) -> String {
        format!("127.0.0.1:{}", self.component_port)
    }

    fn write_config(&self) {
        let root = self.dir.path().display();
        let mut privileged = String::new();
        let mut components = String::new();
        for (jid, secret) in &self.components {
            privileged.push_str(&format!(
                "        [\"{jid}\"] = {{ roster = \"both\"; message = \"outgoing\"; iq = {{ [\"http://jabber.org/protocol/pubsub\"] = \"set\" }}; }};\n"
            ));
            components.push_str(&format!(
                "Component \"{jid}\"\n    component_secret = \"{secret}\"\n    modules_enabled = {{ \"privilege\" }}\n\n"
            ));
        }
        std::fs::create_dir_all(self.dir.path().join("data")).expect("data folder");
        let config = format!(
            r#"pidfile = "{root}/prosody.pid"
run_as_root = true
data_path = "{root}/data"
log = {{ info = "{root}/prosody.log"; error = "{root}/prosody.err"; }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
c2s_direct_tls_ports = {{ }}
component_ports = {{ {component} }}
component_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "register"; "carbons"; "posix"; "presence"; "message"; "iq"; "pep" }}
modules_disabled = {{ "s2s"; "http"; "tls"; "offline" }}
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = false
authentication = "internal_plain"
storage = "internal"
-- Nagle's algorithm on Prosody's side holds a small write until the peer
-- acknowledges the previous one: a client that sends every 10 ms would see
-- every answer 10 ms late. Gateways deployments want it off too.
network_settings = {{ nagle = false }}

VirtualHost "localhost"
    modules_enabled = {{ "privilege" }}
    privileged_entities = {{
{privileged}    }}

{components}"#,
            c2s = self.c2s_port,
            component = self.component_port,
        );
        std::fs::write(self.config_path(), config).expect("write prosody.cfg.lua");
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("stdout.log")).expect("log file");
        let child = Command::new("prosody")
            .arg("--config")
            .arg(self.config_path())
            .arg("-F")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start prosody (is it installed? see scripts/install-deps)");
        self.child = Some(child);
        for port in [self.c2s_port, self.component_port] {
            if !wait_for_port(port, Duration::from_secs(20)) {
                let log =
                    std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default();
                panic!("prosody did not listen on {port}:\n{log}");
            }
        }
    }

    /// Creates many accounts at once by writing Prosody's account files
    /// (what `prosodyctl register` would write, without a process per
    /// user): `local` is each account's name and password.
    pub fn add_accounts(&self, locals: impl IntoIterator<Item = String>) {
        let dir = self.dir.path().join("data/localhost/accounts");
        std::fs::create_dir_all(&dir).expect("accounts folder");
        for local in locals {
            std::fs::write(
                dir.join(format!("{local}.dat")),
                format!("return {{\n\t[\"password\"] = \"{local}\";\n}};\n"),
            )
            .expect("write an account");
        }
    }

    /// Prosody's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Creates a user account on `localhost`.
    pub fn register_user(&self, user: &str, password: &str) {
        let status = Command::new("prosodyctl")
            .arg("--config")
            .arg(self.config_path())
            .args(["register", user, "localhost", password])
            .stdout(Stdio::null())
            .status()
            .expect("run prosodyctl");
        assert!(status.success(), "prosodyctl register {user} failed");
    }

    /// Stops Prosody (by the pid it was started with) and starts it again on
    /// the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Stops Prosody.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::process::terminate(&mut child);
        }
    }

    /// Prosody's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prosody.log")).unwrap_or_default()
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.stop();
    }
}
