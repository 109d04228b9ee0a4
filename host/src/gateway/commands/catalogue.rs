//! Every ad-hoc command, parsed once from its node into [`Command`]; the
//! list clients see is derived from it.

use minidom::Element;
use xmpp_parsers::data_forms::{Field, FieldType, Option_};

use crate::stanza::commands;

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// A registered user with a session.
    User,
    /// One of the gateway's `admins`.
    Admin,
}

/// An ad-hoc command of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Command {
    /// Log in now.
    LogIn,
    /// Log out of the legacy network.
    LogOut,
    /// Fill the roster again and push every item again.
    SyncContacts,
    /// List the contacts.
    Contacts,
    /// List the groups.
    Groups,
    /// Leave a group, on the network too.
    LeaveGroup,
    /// Show the session's state.
    Status,
    /// Unregister, after a confirmation.
    Unregister,
    /// List the registered users (admin).
    Users,
    /// Show a user's session (admin).
    Session,
    /// Log a user's session out (admin).
    Kick,
    /// Reload the plugin file (admin).
    Reload,
    /// The plugin's version and limits (admin).
    Plugin,
}

impl Command {
    /// Every command, in the order clients list them.
    pub(super) const ALL: [Command; 13] = [
        Command::LogIn,
        Command::LogOut,
        Command::SyncContacts,
        Command::Contacts,
        Command::Groups,
        Command::LeaveGroup,
        Command::Status,
        Command::Unregister,
        Command::Users,
        Command::Session,
        Command::Kick,
        Command::Reload,
        Command::Plugin,
    ];

    /// The command a node names.
    pub(super) fn parse(node: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.node() == node)
    }

    /// Its XEP-0050 node.
    pub(super) fn node(self) -> &'static str {
        match self {
            Command::LogIn => "login",
            Command::LogOut => "logout",
            Command::SyncContacts => "sync-contacts",
            Command::Contacts => "contacts",
            Command::Groups => "groups",
            Command::LeaveGroup => "leave-group",
            Command::Status => "status",
            Command::Unregister => "unregister",
            Command::Users => "admin/users",
            Command::Session => "admin/session",
            Command::Kick => "admin/kick",
            Command::Reload => "admin/reload",
            Command::Plugin => "admin/plugin",
        }
    }

    /// The name clients show.
    pub(super) fn name(self) -> &'static str {
        match self {
            Command::LogIn => "Log in",
            Command::LogOut => "Log out",
            Command::SyncContacts => "Re-sync contacts",
            Command::Contacts => "List contacts",
            Command::Groups => "List groups",
            Command::LeaveGroup => "Leave a group",
            Command::Status => "Show status",
            Command::Unregister => "Unregister",
            Command::Users => "List users (admin)",
            Command::Session => "Show a user's session (admin)",
            Command::Kick => "Kick a session (admin)",
            Command::Reload => "Reload the plugin (admin)",
            Command::Plugin => "Plugin version and limits (admin)",
        }
    }

    /// Who may run it.
    pub(super) fn access(self) -> Access {
        match self {
            Command::LogIn
            | Command::LogOut
            | Command::SyncContacts
            | Command::Contacts
            | Command::Groups
            | Command::LeaveGroup
            | Command::Status
            | Command::Unregister => Access::User,
            Command::Users
            | Command::Session
            | Command::Kick
            | Command::Reload
            | Command::Plugin => Access::Admin,
        }
    }

    /// Whether its form lists what only the user's session knows (their
    /// groups): a task asks the session, and sends it.
    pub(super) fn form_from_session(self) -> bool {
        self == Command::LeaveGroup
    }

    /// The form asked for before it runs, if any (see
    /// [`Command::form_from_session`] for the others).
    pub(super) fn form(self) -> Option<Element> {
        match self {
            Command::Unregister => Some(unregister_form()),
            Command::Session => Some(user_form("Show a user's session", "Whose session?")),
            Command::Kick => Some(user_form("Kick a session", "Whose session to log out?")),
            _ => None,
        }
    }
}

/// The form of "Leave a group": one of the user's groups, by room JID
/// (`groups`: JID and name).
pub(super) fn leave_group_form(groups: &[(String, String)]) -> Element {
    let mut group = Field::new("group", FieldType::ListSingle);
    group.label = Some("Group".into());
    group.required = true;
    group.options = groups
        .iter()
        .map(|(jid, name)| Option_ {
            label: Some(if name.is_empty() {
                jid.clone()
            } else {
                format!("{name} ({jid})")
            }),
            value: jid.clone(),
        })
        .collect();
    commands::form(
        "Leave a group",
        "You leave the group on the legacy network too; it leaves your bookmarks.",
        vec![group],
    )
}

fn unregister_form() -> Element {
    let mut confirm = Field::new("confirm", FieldType::Boolean);
    confirm.label = Some("Yes, unregister and remove my contacts".into());
    confirm.required = true;
    commands::form(
        "Unregister",
        "This logs you out of the legacy network, removes its contacts from your roster \
         and forgets your registration.",
        vec![confirm],
    )
}

fn user_form(title: &str, instructions: &str) -> Element {
    let mut user = Field::new("user", FieldType::JidSingle);
    user.label = Some("User".into());
    user.required = true;
    commands::form(title, instructions, vec![user])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_parses_back_to_its_command() {
        for command in Command::ALL {
            assert_eq!(Command::parse(command.node()), Some(command));
        }
        assert_eq!(Command::parse("admin/unknown"), None);
    }
}
