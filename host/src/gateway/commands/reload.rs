//! `admin/reload`: the plugin file loaded again, answered once the new
//! code compiled (or did not).

use super::{Answer, Completed, RELOAD_WAIT, Reply};
use crate::gateway::Gateway;
use crate::stanza::commands::{NoteType, Status};

impl Gateway {
    /// Reloads the plugin; None: a task answers.
    pub(super) fn reload_plugin(&self, reply: &Reply) -> Option<(Status, Answer)> {
        let done = |answer: Answer| Some((Status::Completed, answer));
        let Some(trigger) = self.reload.clone() else {
            return done(Ok(Completed::note(
                NoteType::Error,
                "Hot reload is off: the plugin file could not be watched.",
            )));
        };
        let outbox = self.ctx.outbox.clone();
        let reply = reply.clone();
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(RELOAD_WAIT, trigger.reload_and_report())
                .await
                .unwrap_or_else(|_| Err("the reload is taking too long; see the log".into()));
            let completed = match outcome {
                Ok(what) => Completed::note(
                    NoteType::Info,
                    format!("Reloaded: {what}. Every session moves to it."),
                ),
                Err(why) => Completed::note(NoteType::Error, format!("Reload failed: {why}")),
            };
            outbox.send(reply.iq(Status::Completed, Ok(completed)));
        });
        None
    }
}
