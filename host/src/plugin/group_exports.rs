//! The group exports of the contract (`fill-bookmarks`, `on-muc-text`…)
//! as typed methods on [`Instance`], beside `exports`' contact ones.

use xmpp_parsers::chatstates::ChatState;

use super::bindings::gatehouse::gateway::{groups as wit_groups, types as wit};
use super::exports::{Answer, bounded, chat_state};
use super::{Instance, MucRef, PluginError, TextMessage};

/// The oldest archived message of a room, for `backfill`.
#[derive(Debug, Clone)]
pub struct ArchiveBound {
    /// Its legacy id, if it has one.
    pub legacy_msg_id: Option<String>,
    /// When it was sent.
    pub when: u64,
}

impl<S: Send + 'static> Instance<S> {
    /// `fill-bookmarks`.
    pub async fn fill_bookmarks(&mut self) -> Answer<()> {
        bounded(
            self.call("fill_bookmarks", async |p, s| {
                p.call_fill_bookmarks(s).await
            })
            .await,
        )
    }

    /// `fill-participants`.
    pub async fn fill_participants(&mut self, room: usize) -> Answer<()> {
        bounded(
            self.call_with_handle("fill_participants", MucRef(room), async |p, s, m| {
                p.call_fill_participants(s, m).await
            })
            .await,
        )
    }

    /// `update-muc-info`.
    pub async fn update_muc_info(&mut self, room: usize) -> Answer<()> {
        bounded(
            self.call_with_handle("update_muc_info", MucRef(room), async |p, s, m| {
                p.call_update_muc_info(s, m).await
            })
            .await,
        )
    }

    /// `backfill`.
    pub async fn backfill(&mut self, room: usize, before: Option<ArchiveBound>) -> Answer<()> {
        let before = before.map(|b| wit_groups::ArchiveBound {
            legacy_msg_id: b.legacy_msg_id,
            when: b.when,
        });
        bounded(
            self.call_with_handle("backfill", MucRef(room), async |p, s, m| {
                p.call_backfill(s, m, before.as_ref()).await
            })
            .await,
        )
    }

    /// `on-leave-group`.
    pub async fn on_leave_group(&mut self, room: usize) -> Answer<()> {
        bounded(
            self.call_with_handle("on_leave_group", MucRef(room), async |p, s, m| {
                p.call_on_leave_group(s, m).await
            })
            .await,
        )
    }

    /// `jid-username-to-muc-legacy-id`.
    pub async fn jid_username_to_muc_legacy_id(
        &mut self,
        username: &str,
        unescaped: &str,
    ) -> Answer<String> {
        bounded(
            self.call("jid_username_to_muc_legacy_id", async |p, s| {
                p.call_jid_username_to_muc_legacy_id(s, username, unescaped)
                    .await
            })
            .await,
        )
    }

    /// `muc-legacy-id-to-jid-username`.
    pub async fn muc_legacy_id_to_jid_username(
        &mut self,
        legacy_id: &str,
    ) -> Result<Option<String>, PluginError> {
        self.call("muc_legacy_id_to_jid_username", async |p, s| {
            p.call_muc_legacy_id_to_jid_username(s, legacy_id).await
        })
        .await
    }

    /// `on-muc-text`.
    pub async fn on_muc_text(
        &mut self,
        room: usize,
        message: TextMessage,
    ) -> Answer<Option<String>> {
        let message = wit::TextMessage {
            body: message.body,
            xmpp_id: message.xmpp_id,
            reply_to: message.reply_to,
        };
        bounded(
            self.call_with_handle("on_muc_text", MucRef(room), async |p, s, m| {
                p.call_on_muc_text(s, m, &message).await
            })
            .await,
        )
    }

    /// `on-muc-correct`.
    pub async fn on_muc_correct(&mut self, room: usize, legacy_id: &str, body: &str) -> Answer<()> {
        bounded(
            self.call_with_handle("on_muc_correct", MucRef(room), async |p, s, m| {
                p.call_on_muc_correct(s, m, legacy_id, body).await
            })
            .await,
        )
    }

    /// `on-muc-retract`.
    pub async fn on_muc_retract(&mut self, room: usize, legacy_id: &str) -> Answer<()> {
        bounded(
            self.call_with_handle("on_muc_retract", MucRef(room), async |p, s, m| {
                p.call_on_muc_retract(s, m, legacy_id).await
            })
            .await,
        )
    }

    /// `on-muc-react`.
    pub async fn on_muc_react(
        &mut self,
        room: usize,
        legacy_id: &str,
        emojis: Vec<String>,
    ) -> Answer<()> {
        bounded(
            self.call_with_handle("on_muc_react", MucRef(room), async |p, s, m| {
                p.call_on_muc_react(s, m, legacy_id, &emojis).await
            })
            .await,
        )
    }

    /// `on-muc-displayed`.
    pub async fn on_muc_displayed(
        &mut self,
        room: usize,
        legacy_id: &str,
    ) -> Result<(), PluginError> {
        self.call_with_handle("on_muc_displayed", MucRef(room), async |p, s, m| {
            p.call_on_muc_displayed(s, m, legacy_id).await
        })
        .await
    }

    /// `on-muc-chat-state`.
    pub async fn on_muc_chat_state(
        &mut self,
        room: usize,
        state: ChatState,
    ) -> Result<(), PluginError> {
        let state = chat_state(state);
        self.call_with_handle("on_muc_chat_state", MucRef(room), async |p, s, m| {
            p.call_on_muc_chat_state(s, m, state).await
        })
        .await
    }
}
