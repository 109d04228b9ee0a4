//! The session's side of the ad-hoc commands (XEP-0050): what a user (or an
//! administrator, about a user) asks of one session, run between two of its
//! events like everything else the session does.
//!
//! The answers are plain data; the gateway turns them into data forms.

use jid::Jid;

use super::calls::Crashed;
use super::{LoginState, Session};

/// What a command asks of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    /// Log in now (a parked or failed session too, without waiting for its
    /// retry).
    LogIn,
    /// Log out of the legacy network; the next available presence or
    /// `LogIn` logs in again.
    LogOut,
    /// Log out, told that an administrator did it.
    Kick,
    /// Ask the plugin for the contacts again and push every roster item
    /// again (a user who deleted a contact from their roster gets it back).
    SyncContacts,
    /// List the contacts.
    Contacts,
    /// List the groups the user is in.
    Groups,
    /// Leave the group behind this room JID, on the network too.
    LeaveGroup(String),
    /// Report the session's state.
    Report,
}

/// A session's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandReply {
    /// Done; what happened, for the user.
    Done(String),
    /// Not done; why, for the user.
    Refused(String),
    /// The session's state.
    Report(SessionReport),
    /// The contacts.
    Contacts(Vec<ContactLine>),
    /// The groups.
    Groups(Vec<GroupLine>),
}

/// One group, for the group list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLine {
    /// The room's JID.
    pub jid: String,
    /// Its name, if the plugin gave one.
    pub name: String,
    /// The group's id on the legacy network.
    pub legacy_id: String,
    /// How many participants the host knows.
    pub participants: usize,
    /// How many of the user's clients joined it.
    pub joined: usize,
}

/// The state of a session, for the status commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// Where it stands with the legacy network.
    pub login: LoginState,
    /// Contacts the session knows.
    pub contacts: usize,
    /// Of those, the ones in the user's roster.
    pub in_roster: usize,
    /// The user's XMPP clients the gateway saw come online.
    pub resources: Vec<Jid>,
    /// Whether the plugin has a live instance (it is made on demand).
    pub instance: bool,
}

/// One contact, for the contact list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactLine {
    /// The puppet's JID.
    pub jid: String,
    /// The contact's name, if the plugin gave one.
    pub name: String,
    /// The contact's id on the legacy network.
    pub legacy_id: String,
    /// Whether it is in the user's roster.
    pub in_roster: bool,
}

impl Session {
    /// Runs one command.
    pub(super) async fn on_command(&mut self, command: UserCommand) -> CommandReply {
        tracing::info!(gateway = %self.ctx.jid, user = %self.user, ?command, "ad-hoc command");
        match command {
            UserCommand::LogIn => {
                if let LoginState::LoggedIn { .. } = self.login {
                    return CommandReply::Refused(format!("Already {}.", self.login));
                }
                self.retry_at = None;
                self.log_in().await;
                match &self.login {
                    LoginState::LoggedIn { .. } => CommandReply::Done(format!("{}.", self.login)),
                    other => CommandReply::Refused(format!("{other}.")),
                }
            }
            UserCommand::LogOut | UserCommand::Kick => {
                if !matches!(self.login, LoginState::LoggedIn { .. }) {
                    // A failed or parked session stops retrying.
                    self.retry_at = None;
                    self.set_login(LoginState::LoggedOut);
                    self.send_status(self.user.clone().into());
                    return CommandReply::Done("Not logged in; no more retries.".into());
                }
                self.log_out().await;
                if command == UserCommand::Kick {
                    self.tell(
                        "An administrator of the gateway logged you out. Go offline and online \
                         again, or run the 'Log in' command, to log in again.",
                    );
                }
                CommandReply::Done("Logged out.".into())
            }
            UserCommand::SyncContacts => {
                if !matches!(self.login, LoginState::LoggedIn { .. }) {
                    return CommandReply::Refused(format!("Cannot sync contacts: {}.", self.login));
                }
                self.fill_roster().await;
                // `fill-roster` may have created contacts: fetch their
                // profiles before counting.
                self.after_calls().await;
                match self.data() {
                    Some(data) => {
                        let pushed = data.roster.push_all_again();
                        CommandReply::Done(format!(
                            "Contacts synced: {pushed} in your roster, {} known.",
                            data.roster.ids().len()
                        ))
                    }
                    None => CommandReply::Refused("The session lost its state.".into()),
                }
            }
            UserCommand::Contacts => match self.data() {
                Some(data) => {
                    let roster = &data.roster;
                    let lines = roster
                        .ids()
                        .filter_map(|id| roster.get(id))
                        .map(|c| ContactLine {
                            jid: c.jid.to_string(),
                            name: c.name.clone().unwrap_or_default(),
                            legacy_id: c.legacy_id.clone(),
                            in_roster: c.in_roster,
                        })
                        .collect();
                    CommandReply::Contacts(lines)
                }
                None => CommandReply::Refused("The session lost its state.".into()),
            },
            UserCommand::Groups => match self.data() {
                Some(data) => {
                    let rooms = &data.rooms;
                    let lines = rooms
                        .ids()
                        .filter_map(|id| rooms.get(id))
                        // The user's groups: not those they are out of
                        // (left, or removed by the network).
                        .filter(|r| !r.info.removed)
                        .map(|r| GroupLine {
                            jid: r.jid.to_string(),
                            name: r.info.name.clone().unwrap_or_default(),
                            legacy_id: r.legacy_id.clone(),
                            participants: r.present().count(),
                            joined: r.joined.len(),
                        })
                        .collect();
                    CommandReply::Groups(lines)
                }
                None => CommandReply::Refused("The session lost its state.".into()),
            },
            UserCommand::LeaveGroup(jid) => self.leave_group(&jid).await,
            UserCommand::Report => {
                let instance = self.instance.is_some();
                let login = self.login.clone();
                let mut resources: Vec<Jid> = self.resources.iter().cloned().collect();
                resources.sort_by_key(|r| r.to_string());
                let (contacts, in_roster) = match self.data() {
                    Some(data) => {
                        let roster = &data.roster;
                        let in_roster = roster
                            .ids()
                            .filter_map(|id| roster.get(id))
                            .filter(|c| c.in_roster)
                            .count();
                        (roster.ids().len(), in_roster)
                    }
                    None => (0, 0),
                };
                CommandReply::Report(SessionReport {
                    login,
                    contacts,
                    in_roster,
                    resources,
                    instance,
                })
            }
        }
    }
}

impl Session {
    /// The user leaves a group (the ad-hoc command): the plugin leaves it
    /// on the network; then the bookmark goes and the joined clients are
    /// told they left.
    pub(super) async fn leave_group(&mut self, jid: &str) -> CommandReply {
        if let Err(text) = self.logged_in() {
            return CommandReply::Refused(format!("Cannot leave a group: {text}."));
        }
        let room = Jid::new(jid)
            .ok()
            .and_then(|j| self.data().and_then(|d| d.rooms.by_jid(&j)));
        let Some(room) = room else {
            return CommandReply::Refused(format!("You have no group {jid}."));
        };
        // Checked before the network is asked: once the plugin left, what
        // the host does after must not fail for want of room.
        if let Some(data) = self.data() {
            if data.rooms.get(room).is_some_and(|r| r.info.removed) {
                return CommandReply::Refused(format!("You are not in {jid} any more."));
            }
            if let Err(e) = data.roster.room_for("leaving a group") {
                return CommandReply::Refused(format!("Not now: {e}"));
            }
        }
        let result = self
            .call("on-leave-group", async |i| i.on_leave_group(room).await)
            .await;
        match result {
            Err(Crashed) => CommandReply::Refused(
                "The plugin stopped while leaving the group; you are still in it.".into(),
            ),
            Ok(Err(reason)) => CommandReply::Refused(format!("Not left: {reason}")),
            Ok(Ok(())) => {
                let Some(data) = self.data() else {
                    return CommandReply::Refused("The session lost its state.".into());
                };
                match data.rooms.leave(&mut data.roster, room) {
                    Ok(()) => CommandReply::Done(format!("You left {jid}.")),
                    Err(e) => CommandReply::Refused(format!("Left on the network, but: {e}")),
                }
            }
        }
    }
}
