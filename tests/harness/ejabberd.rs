//! A private ejabberd for end-to-end tests: its own folder, config, Mnesia
//! spool and loopback ports, started by the test and stopped by it (by pid).
//!
//! Started through Debian's `ejabberdctl foreground` with a control file of
//! the test's: it runs as the current user (not the `ejabberd` system
//! user), and Erlang distribution listens on a fixed loopback port of the
//! test's (`ERL_DIST_PORT`) instead of registering with an `epmd` daemon
//! that would outlive the test. Accounts are made with `ejabberdctl
//! register` over that port.
//!
//! The config is `docs/operating.md`'s ejabberd recipe: a component
//! listener and `mod_privilege` granting roster and outgoing messages.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_for_port};

/// A running ejabberd.
pub struct Ejabberd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    node: String,
    /// The client-to-server port.
    pub c2s_port: u16,
    /// The component port.
    pub component_port: u16,
}

impl Ejabberd {
    /// Starts ejabberd with a virtual host `localhost` and these components
    /// (`(jid, secret)`), each privileged for roster and messages.
    pub fn start(components: &[(&str, &str)]) -> Ejabberd {
        let dir = tempfile::tempdir().expect("temporary folder");
        let dist_port = free_port();
        let mut ejabberd = Ejabberd {
            node: format!("gh{dist_port}@localhost"),
            dir,
            child: None,
            c2s_port: free_port(),
            component_port: free_port(),
        };
        ejabberd.write_config(components, dist_port);
        ejabberd.launch();
        ejabberd
    }

    /// `host:port` of the component listener.
    pub fn component_address(&self) -> String {
        format!("127.0.0.1:{}", self.component_port)
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write_config(&self, components: &[(&str, &str)], dist_port: u16) {
        let root = self.root();
        for folder in ["spool", "logs"] {
            std::fs::create_dir_all(root.join(folder)).expect("ejabberd folder");
        }
        let mut hosts = String::new();
        let mut acl = String::new();
        for (jid, secret) in components {
            hosts.push_str(&format!(
                "      \"{jid}\":\n        password: \"{secret}\"\n"
            ));
            acl.push_str(&format!("    - server: \"{jid}\"\n"));
        }
        let config = format!(
            r#"hosts:
  - localhost
loglevel: info
auth_method: internal
auth_password_format: plain
listen:
  -
    port: {c2s}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: false
  -
    port: {component}
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
{hosts}acl:
  gateways:
{acl}access_rules:
  local:
    allow: all
  c2s:
    allow: all
  gateway_access:
    allow: gateways
shaper_rules:
  c2s_shaper: none
modules:
  mod_roster: {{}}
  mod_disco: {{}}
  mod_ping: {{}}
  mod_carboncopy: {{}}
  mod_privilege:
    roster:
      both: gateway_access
    message:
      outgoing: gateway_access
"#,
            c2s = self.c2s_port,
            component = self.component_port,
        );
        std::fs::write(root.join("ejabberd.yml"), config).expect("write ejabberd.yml");
        // Sourced by ejabberdctl after its own defaults.
        std::fs::write(
            root.join("ejabberdctl.cfg"),
            format!(
                "EXEC_CMD=as_current_user\nERLANG_NODE={node}\nERL_DIST_PORT={dist_port}\n\
                 INET_DIST_INTERFACE=127.0.0.1\n",
                node = self.node
            ),
        )
        .expect("write ejabberdctl.cfg");
        std::fs::write(root.join("inetrc"), "").expect("write inetrc");
    }

    /// `ejabberdctl` with this instance's folders and node.
    fn ctl(&self) -> Command {
        let root = self.root();
        let mut command = Command::new("ejabberdctl");
        command
            .env("HOME", root)
            .arg("--config-dir")
            .arg(root)
            .arg("--config")
            .arg(root.join("ejabberd.yml"))
            .arg("--ctl-config")
            .arg(root.join("ejabberdctl.cfg"))
            .arg("--spool")
            .arg(root.join("spool"))
            .arg("--logs")
            .arg(root.join("logs"))
            .arg("--node")
            .arg(&self.node);
        command
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.root().join("stdout.log")).expect("log file");
        // A process group of its own: `ejabberdctl` runs the Erlang VM as a
        // child (not by exec), so stopping means signalling both.
        let child =
            std::os::unix::process::CommandExt::process_group(self.ctl().arg("foreground"), 0)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .expect("start ejabberd (is it installed? see scripts/install-deps)");
        self.child = Some(child);
        for port in [self.c2s_port, self.component_port] {
            if !wait_for_port(port, Duration::from_secs(60)) {
                panic!("ejabberd did not listen on {port}:\n{}", self.log());
            }
        }
    }

    /// Creates a user account on `localhost`.
    pub fn register_user(&self, user: &str, password: &str) {
        let output = self
            .ctl()
            .args(["register", user, "localhost", password])
            .output()
            .expect("run ejabberdctl");
        assert!(
            output.status.success(),
            "ejabberdctl register {user} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Stops ejabberd (by the pid it was started with) and starts it again
    /// on the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Stops ejabberd: SIGTERM to its process group (the `ejabberdctl`
    /// shell and the Erlang VM it started), SIGKILL after 20 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let signal = |name: &str| {
            let _ = Command::new("kill")
                .args([name, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                // The VM may still be finishing after the shell: wait for
                // the group to be gone.
                let gone = !Command::new("kill")
                    .args(["-0", "--", &group])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if gone {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal("-KILL");
        let _ = child.wait();
    }

    /// ejabberd's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root().join("logs/ejabberd.log")).unwrap_or_default()
    }

    /// The instance's folder.
    pub fn dir(&self) -> PathBuf {
        self.root().to_owned()
    }
}

impl Drop for Ejabberd {
    fn drop(&mut self) {
        self.stop();
    }
}
