//! `unregister`: the user leaves, after confirming.

use super::{Answer, Completed, Reply};
use crate::gateway::Gateway;
use crate::gateway::registration::Job;
use crate::stanza::commands::{CommandRequest, NoteType, Status};
use crate::stanza::register::Submission;

impl Gateway {
    /// Unregisters the requester if they confirmed; None: the result went
    /// out already.
    pub(super) async fn unregister(
        &mut self,
        request: &CommandRequest,
        reply: &Reply,
    ) -> Option<(Status, Answer)> {
        let done = |answer: Answer| Some((Status::Completed, answer));
        let requester = reply.from.to_bare();
        if request
            .value("confirm")
            .is_none_or(|v| !matches!(v, "1" | "true"))
        {
            return done(Ok(Completed::note(
                NoteType::Warn,
                "Not confirmed: you are still registered.",
            )));
        }
        let result = reply.iq(
            Status::Completed,
            Ok(Completed::note(
                NoteType::Info,
                "Unregistered: your contacts are removed and your registration forgotten.",
            )),
        );
        let refused = reply.clone();
        self.submit(Job {
            user: requester,
            submission: Submission::Remove,
            result: result.into(),
            refuse: Box::new(move |error| {
                refused.iq(Status::Completed, Err(Box::new(error))).into()
            }),
        });
        None // the registration's task answers
    }
}
