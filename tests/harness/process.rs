//! The real `gatehouse` binary as a child process, and the Python test
//! client, for end-to-end tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{GATEWAY, SECRET, plugin, workspace};

/// The `gatehouse` binary of the same build as the running executable
/// (beside it, or beside its `deps/` folder for a test).
pub fn gatehouse_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable");
    let mut dir = exe.parent().expect("a folder").to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let binary = dir.join("gatehouse");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p gatehouse` first (scripts/test does)",
        binary.display()
    );
    binary
}

/// A running `gatehouse run` with one echo gateway.
pub struct GatewayProcess {
    /// Holds the configuration, the database and the log.
    pub dir: tempfile::TempDir,
    plugin_file: PathBuf,
    child: Child,
    /// How many handshakes to wait for before the gateway counts as up.
    connections: usize,
}

impl GatewayProcess {
    /// Starts the binary with the Rust echo plugin against a server's
    /// component port.
    pub fn start(server: &str) -> Self {
        Self::start_plugin(server, "echo")
    }

    /// Starts the binary with a built plugin (`echo`, `echo-js`,
    /// `echo-py`…). Compiled plugins are cached across tests
    /// (`target/plugin-cache`): Python and JavaScript take seconds to
    /// compile.
    pub fn start_plugin(server: &str, plugin_name: &str) -> Self {
        Self::start_gateway(server, GATEWAY, plugin_name, "")
    }

    /// Starts the binary with one gateway of JID `jid` (whose secret is
    /// [`SECRET`]) running a built plugin; `extra` is added to the gateway's
    /// section (`allow = […]`…).
    pub fn start_gateway(server: &str, jid: &str, plugin_name: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let config = dir.path().join("gatehouse.toml");
        // A private copy, so that a test may replace it (hot reload)
        // without touching the built one; in a folder of its own, away from
        // the database, whose writes would wake the plugin watcher.
        std::fs::create_dir_all(dir.path().join("plugins")).expect("plugins folder");
        let plugin_file = dir
            .path()
            .join("plugins")
            .join(format!("{plugin_name}.wasm"));
        std::fs::copy(plugin(plugin_name), &plugin_file).expect("copy the plugin");
        std::fs::write(
            &config,
            format!(
                "[xmpp]\nserver = \"{server}\"\n\n[store]\npath = \"gatehouse.db\"\n\n\
                 [engine]\ncache_dir = \"{}\"\n\n\
                 [[gateway]]\njid = \"{jid}\"\nsecret = \"{SECRET}\"\nplugin = \"{}\"\n{extra}\n",
                compiled_cache().display(),
                plugin_file.display()
            ),
        )
        .expect("write the configuration");
        let child = spawn(&dir);
        let mut gateway = GatewayProcess {
            dir,
            plugin_file,
            child,
            connections: 1,
        };
        gateway.wait_connected();
        gateway
    }

    /// Kills the gateway (SIGKILL: nothing is flushed or said goodbye) and
    /// starts it again on the same configuration and database.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// Kills the gateway (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the gateway and starts it again on the same configuration and
    /// database, every file it writes capped at `kib` (see
    /// [`spawn_limited`]); returns once its link is up.
    pub fn restart_with_file_limit(&mut self, kib: u64) {
        self.kill();
        self.child = spawn_limited(&self.dir, kib);
        self.connections += 1;
        self.wait_connected();
    }

    /// Starts the killed gateway again on the same configuration and
    /// database; returns once its link is up.
    pub fn start_again(&mut self) {
        self.child = spawn(&self.dir);
        self.connections += 1;
        self.wait_connected();
    }

    /// Waits until the gateway logged its component link up (a debug build
    /// compiles the plugin for a second or more first).
    fn wait_connected(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::time::Instant::now() < deadline {
            if self.log().matches("component link up").count() >= self.connections {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("gatehouse exited ({status}):\n{}", self.log());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("gatehouse did not connect within 120 s:\n{}", self.log());
    }

    /// The plugin file the gateway runs (its own copy): replace it to
    /// reload.
    pub fn plugin_path(&self) -> PathBuf {
        self.plugin_file.clone()
    }

    /// The configuration file (rewrite it and send `HUP` to apply it).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("gatehouse.toml")
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.dir.path().join("gatehouse.db")
    }

    /// Waits for the process to exit by itself (after a `TERM`); None if it
    /// is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`USR1`, `TERM`…) to the gateway, by its pid.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits until the log holds `text` at least `count` times.
    pub fn wait_log(&self, text: &str, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.log().matches(text).count() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "no {text:?} in:\n{}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// What the gateway logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gatehouse.log")).unwrap_or_default()
    }
}

/// Stops a server: SIGTERM first, so that it can close its connections,
/// then SIGKILL if it is still there after 10 s.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The compiled-plugin cache the tests share.
pub fn compiled_cache() -> PathBuf {
    workspace().join("target/plugin-cache")
}

/// Starts the binary on the configuration in `dir`, appending to its log.
fn spawn(dir: &tempfile::TempDir) -> Child {
    spawn_with(dir, Command::new(gatehouse_binary()))
}

/// The same, through `bash` with the size of every file the gateway
/// writes capped at `kib` (`ulimit -f`) and SIGXFSZ ignored: a write past
/// it fails as on a full disk, instead of killing the process.
fn spawn_limited(dir: &tempfile::TempDir, kib: u64) -> Child {
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(format!("ulimit -f {kib}; trap '' XFSZ; exec \"$0\" \"$@\""))
        .arg(gatehouse_binary());
    spawn_with(dir, command)
}

fn spawn_with(dir: &tempfile::TempDir, mut command: Command) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("gatehouse.log"))
        .expect("log file");
    command
        .args(["run", "--config"])
        .arg(dir.path().join("gatehouse.toml"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("start gatehouse")
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python with slixmpp: `$GATEHOUSE_PYTHON`, else the venv that
/// `scripts/test` makes in `target/venv`.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("GATEHOUSE_PYTHON") {
        return python.into();
    }
    let venv = workspace().join("target/venv/bin/python3");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test (or set GATEHOUSE_PYTHON)",
        venv.display()
    );
    venv
}

/// Runs `tests/e2e/client.py` and parses the JSON it prints.
pub fn run_client(args: &[String]) -> serde_json::Value {
    run_script("client.py", args)
}

/// The longest a test client script may run: every wait inside it has a
/// bound of its own, so one past this is stuck, and is killed so that CI
/// never hangs on it.
const SCRIPT_WAIT: Duration = Duration::from_secs(300);

/// Runs a Python script of `tests/e2e` and parses the JSON it prints; a
/// script still running after [`SCRIPT_WAIT`] is killed and fails the test
/// with what it printed.
pub fn run_script(script: &str, args: &[String]) -> serde_json::Value {
    let mut child = Command::new(python())
        .arg(workspace().join("tests/e2e").join(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the python client");
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + SCRIPT_WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the python client") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        panic!("{script} still ran after {SCRIPT_WAIT:?}, killed:\n{stdout}\n{stderr}");
    };
    assert!(
        status.success(),
        "client failed ({status}):\n{stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("client output is not JSON ({e}): {stdout}"))
}
