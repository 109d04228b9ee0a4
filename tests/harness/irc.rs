//! A real IRC server (ngircd, from Debian) on a loopback port, for the IRC
//! plugin's end-to-end tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_for_port};

/// A running ngircd.
pub struct IrcServer {
    dir: tempfile::TempDir,
    /// Its client port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
}

impl IrcServer {
    /// Starts ngircd on a free port.
    pub fn start() -> IrcServer {
        let dir = tempfile::tempdir().expect("temporary folder");
        let port = free_port();
        std::fs::write(
            dir.path().join("ngircd.conf"),
            format!(
                "[Global]\nName = irc.localhost\nInfo = Gatehouse test server\n\
                 AdminInfo1 = tests\nAdminInfo2 = loopback\nAdminEMail = root@localhost\n\
                 Listen = 127.0.0.1\nPorts = {port}\nMotdPhrase = \"test server\"\n\
                 [Limits]\nPingTimeout = 120\nPongTimeout = 20\nMaxNickLength = 30\n\
                 [Options]\nPAM = no\nDNS = no\nIdent = no\n"
            ),
        )
        .expect("write the ngircd configuration");
        let mut server = IrcServer {
            dir,
            port,
            child: None,
        };
        server.launch();
        server
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("ngircd.conf")
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("ngircd.log")).expect("log file");
        // Debian puts it in /usr/sbin, which a user's PATH may lack.
        let program = if std::path::Path::new("/usr/sbin/ngircd").exists() {
            "/usr/sbin/ngircd"
        } else {
            "ngircd"
        };
        let child = Command::new(program)
            .arg("--nodaemon")
            .arg("--config")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start ngircd (Debian package ngircd; scripts/install-deps installs it)");
        self.child = Some(child);
        if !wait_for_port(self.port, Duration::from_secs(20)) {
            panic!("ngircd did not listen on {}:\n{}", self.port, self.log());
        }
    }

    /// Stops the server (every client is disconnected).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::process::terminate(&mut child);
        }
    }

    /// Starts it again on the same port.
    pub fn start_again(&mut self) {
        self.launch();
    }

    /// What ngircd logged, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ngircd.log")).unwrap_or_default()
    }
}

impl Drop for IrcServer {
    fn drop(&mut self) {
        self.stop();
    }
}
