//! The XMPP server of an end-to-end test, Prosody or ejabberd, behind one
//! interface, so that a suite runs unchanged against either.

use crate::ejabberd::Ejabberd;
use crate::prosody::Prosody;

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Prosody with `mod_privilege` from prosody-modules.
    Prosody,
    /// ejabberd with its `mod_privilege`.
    Ejabberd,
}

/// A running server of either kind.
pub enum Server {
    /// A private Prosody.
    Prosody(Prosody),
    /// A private ejabberd.
    Ejabberd(Ejabberd),
}

impl Server {
    /// Starts a server of `kind` with a virtual host `localhost` and these
    /// components (`(jid, secret)`), each privileged for roster and
    /// messages.
    pub fn start(kind: ServerKind, components: &[(&str, &str)]) -> Server {
        match kind {
            ServerKind::Prosody => Server::Prosody(Prosody::start(components)),
            ServerKind::Ejabberd => Server::Ejabberd(Ejabberd::start(components)),
        }
    }

    /// The client-to-server port.
    pub fn c2s_port(&self) -> u16 {
        match self {
            Server::Prosody(p) => p.c2s_port,
            Server::Ejabberd(e) => e.c2s_port,
        }
    }

    /// `host:port` of the component listener.
    pub fn component_address(&self) -> String {
        match self {
            Server::Prosody(p) => p.component_address(),
            Server::Ejabberd(e) => e.component_address(),
        }
    }

    /// Creates a user account on `localhost`.
    pub fn register_user(&self, user: &str, password: &str) {
        match self {
            Server::Prosody(p) => p.register_user(user, password),
            Server::Ejabberd(e) => e.register_user(user, password),
        }
    }

    /// Stops the server and starts it again on the same data.
    pub fn restart(&mut self) {
        match self {
            Server::Prosody(p) => p.restart(),
            Server::Ejabberd(e) => e.restart(),
        }
    }

    /// The server's own log, for failure messages.
    pub fn log(&self) -> String {
        match self {
            Server::Prosody(p) => p.log(),
            Server::Ejabberd(e) => e.log(),
        }
    }
}
