//! The one way a session calls its plugin: on the live instance (made from
//! the held state when there is none), under crash containment. A call
//! that fails (a trap, the deadline, the memory cap) drops the dead
//! instance, keeps the host state for the next one, and tells the user;
//! the caller only decides what the failure means for the event at hand.
//!
//! After every call the stanzas it produced leave for the sender, before
//! anything the session sends about its outcome, so the order holds.

use xmpp_parsers::stanza::Stanza;

use super::{Session, SessionData, SessionInstance};
use crate::plugin::PluginError;

/// A call that failed; the crash is already handled.
#[derive(Debug)]
pub(super) struct Crashed;

impl Session {
    /// Runs `call` on the live instance; `during` names it for the log and
    /// the user ("during login").
    pub(super) async fn call<R>(
        &mut self,
        during: &str,
        call: impl AsyncFnOnce(&mut SessionInstance) -> Result<R, PluginError>,
    ) -> Result<R, Crashed> {
        let result = match self.instance().await {
            Ok(instance) => call(instance).await,
            Err(e) => Err(e),
        };
        self.flush();
        result.map_err(|error| {
            self.on_crash(&error, during);
            Crashed
        })
    }

    /// The live instance, made from the held state if there is none.
    async fn instance(&mut self) -> Result<&mut SessionInstance, PluginError> {
        if self.instance.is_none() {
            let state = self
                .state
                .take()
                .ok_or_else(|| PluginError::Instantiate("session state lost".into()))?;
            match self.runtime.instantiate_or_keep(state).await {
                Ok(instance) => self.instance = Some(instance),
                Err((error, state)) => {
                    // The plugin could not start: its store is dead, the
                    // session's data is not.
                    self.state = state.into_session().map(SessionData::into_state);
                    return Err(error);
                }
            }
        }
        self.instance
            .as_mut()
            .ok_or_else(|| PluginError::Instantiate("no instance".into()))
    }

    /// Drops the live instance, keeping its host state for the next one
    /// (but not its HTTP requests, whose answers only it awaited).
    pub(super) fn drop_instance(&mut self) {
        if let Some(instance) = self.instance.take() {
            self.state = instance.into_state().into_session().map(|mut data| {
                data.streams.end_http_requests();
                data.files.clear();
                data.into_state()
            });
        }
    }

    /// After a crash: drop the dead instance, keep the host state, tell the
    /// user.
    fn on_crash(&mut self, error: &PluginError, during: &str) {
        tracing::error!(gateway = %self.ctx.jid, user = %self.user, during, %error, "plugin crashed");
        self.drop_instance();
        let what = match error {
            PluginError::Deadline(ms) => format!("ran past its {ms} ms time limit"),
            PluginError::Memory(mb) => format!("used more than its {mb} MiB of memory"),
            _ => "crashed".to_owned(),
        };
        self.tell(&format!(
            "The gateway's plugin {what} during {during}; it was restarted."
        ));
    }

    /// The session's data, in the live instance or held.
    pub(super) fn data(&mut self) -> Option<&mut SessionData> {
        match &mut self.instance {
            Some(instance) => instance.state().session(),
            None => self.state.as_mut().and_then(|state| state.session()),
        }
    }

    /// Hands what the roster produced to the user's queue at the sender.
    pub(super) fn flush(&mut self) {
        if let Some(data) = self.data() {
            data.roster.flush_out();
        }
    }

    /// Sends a stanza of the session's own, after what the roster produced
    /// (in the user's queue, never held back by the rates itself).
    pub(super) fn send(&mut self, stanza: impl Into<Stanza>) {
        match self.data() {
            Some(data) => {
                data.roster.send(stanza);
                data.roster.flush_out();
            }
            None => self.ctx.outbox.send(stanza),
        }
    }

    /// A chat message from the gateway to the user.
    pub(super) fn tell(&mut self, text: &str) {
        let message = self.ctx.message_to(&self.user, text);
        self.send(message);
    }
}
