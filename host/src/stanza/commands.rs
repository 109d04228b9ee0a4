//! XEP-0050: Ad-Hoc Commands, with XEP-0004 result forms and tables.
//!
//! `xmpp-parsers` has no XEP-0050 module; this one parses the `<command/>`
//! of a request, builds the `<command/>` of an answer, the list of
//! commands (a disco#items on the commands node) and the command errors
//! (`bad-action`, `bad-sessionid`…). Result tables (XEP-0004 `<reported/>`
//! and `<item/>`) are built here too, which `DataForm` cannot express.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::{
    data_forms::{DataForm, DataFormType, Field, FieldType},
    disco::{DiscoItemsResult, Item},
    stanza_error::{DefinedCondition, StanzaError},
};

use super::{empty, error::stanza_error, ns, text, with_attr};

/// The namespace and node of XEP-0050.
pub const NS: &str = "http://jabber.org/protocol/commands";

/// What the requester asks a command to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start, or go on with the default action.
    Execute,
    /// Go to the next stage.
    Next,
    /// Go back a stage (no command here has one).
    Prev,
    /// Submit the last stage.
    Complete,
    /// Give up.
    Cancel,
}

/// A `<command/>` from a requester.
#[derive(Debug, Clone)]
pub struct CommandRequest {
    /// The command's node.
    pub node: String,
    /// The session id of a command under way.
    pub session_id: Option<String>,
    /// What to do.
    pub action: Action,
    /// The submitted form, if any.
    pub form: Option<DataForm>,
}

/// Why a `<command/>` could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedCommand(pub String);

impl CommandRequest {
    /// Reads a `<command xmlns='http://jabber.org/protocol/commands'/>`.
    pub fn parse(element: &Element) -> Result<Self, MalformedCommand> {
        if !element.is("command", NS) {
            return Err(MalformedCommand("not a command".into()));
        }
        let node = element
            .attr("node")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| MalformedCommand("the command has no node".into()))?
            .to_owned();
        let action = match element.attr("action") {
            None | Some("execute") => Action::Execute,
            Some("next") => Action::Next,
            Some("prev") => Action::Prev,
            Some("complete") => Action::Complete,
            Some("cancel") => Action::Cancel,
            Some(other) => return Err(MalformedCommand(format!("unknown action '{other}'"))),
        };
        let form = match element.get_child("x", ns::DATA_FORMS) {
            Some(x) => Some(
                DataForm::try_from(x.clone())
                    .map_err(|e| MalformedCommand(format!("the form is not a data form: {e}")))?,
            ),
            None => None,
        };
        Ok(CommandRequest {
            node,
            session_id: element.attr("sessionid").map(str::to_owned),
            action,
            form,
        })
    }

    /// The value of a submitted field, trimmed; None when missing or empty.
    pub fn value(&self, var: &str) -> Option<&str> {
        self.form
            .as_ref()?
            .fields
            .iter()
            .find(|f| f.var.as_deref() == Some(var))?
            .values
            .first()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// The state of a command in an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the requester's next stage.
    Executing,
    /// Done.
    Completed,
    /// Given up.
    Canceled,
}

/// The severity of a `<note/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteType {
    /// It went well.
    Info,
    /// It went, with a caveat.
    Warn,
    /// It did not go.
    Error,
}

/// A `<command/>` answering a request.
#[derive(Debug, Clone)]
pub struct CommandResponse {
    /// The command's node.
    pub node: String,
    /// The session id.
    pub session_id: String,
    /// Where the command stands.
    pub status: Status,
    /// A note for the requester.
    pub note: Option<(NoteType, String)>,
    /// A form to fill (executing) or a result (completed).
    pub form: Option<Element>,
}

impl From<CommandResponse> for Element {
    fn from(response: CommandResponse) -> Element {
        let status = match response.status {
            Status::Executing => "executing",
            Status::Completed => "completed",
            Status::Canceled => "canceled",
        };
        let mut command = with_attr(
            with_attr(
                with_attr(empty("command", NS), "node", &response.node),
                "sessionid",
                &response.session_id,
            ),
            "status",
            status,
        );
        if response.status == Status::Executing {
            // Every command here has one form stage: submitting completes.
            let mut actions = with_attr(empty("actions", NS), "execute", "complete");
            actions.append_child(empty("complete", NS));
            command.append_child(actions);
        }
        if let Some((type_, note)) = response.note {
            let type_ = match type_ {
                NoteType::Info => "info",
                NoteType::Warn => "warn",
                NoteType::Error => "error",
            };
            command.append_child(with_attr(text("note", NS, note), "type", type_));
        }
        if let Some(form) = response.form {
            command.append_child(form);
        }
        command
    }
}

/// The disco#items answer listing commands: `(node, name)` each, on `jid`.
pub fn list(jid: &Jid, commands: &[(&str, &str)]) -> DiscoItemsResult {
    DiscoItemsResult {
        node: Some(NS.to_owned()),
        items: commands
            .iter()
            .map(|(node, name)| Item {
                jid: jid.clone(),
                node: Some((*node).to_owned()),
                name: Some((*name).to_owned()),
            })
            .collect(),
        rsm: None,
    }
}

/// XEP-0050's specific error conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    /// The action is not one the command takes now.
    BadAction,
    /// The session id is unknown, or expired.
    BadSessionId,
    /// The request could not be read.
    MalformedAction,
}

/// A stanza error with XEP-0050's specific condition as well.
pub fn error(condition: DefinedCondition, specific: CommandError, text: &str) -> StanzaError {
    let mut error = stanza_error(condition, text);
    let name = match specific {
        CommandError::BadAction => "bad-action",
        CommandError::BadSessionId => "bad-sessionid",
        CommandError::MalformedAction => "malformed-action",
    };
    error.other = Some(empty(name, NS));
    error
}

/// A form to fill: a title, instructions and fields.
pub fn form(title: &str, instructions: &str, fields: Vec<Field>) -> Element {
    DataForm {
        type_: DataFormType::Form,
        title: Some(title.to_owned()),
        instructions: Some(instructions.to_owned()),
        fields,
    }
    .into()
}

/// A result: a title and labelled read-only values.
pub fn result(title: &str, values: &[(&str, &str, String)]) -> Element {
    let fields = values
        .iter()
        .map(|(var, label, value)| Field {
            label: Some((*label).to_owned()),
            ..Field::new(var, FieldType::TextSingle).with_value(value)
        })
        .collect();
    DataForm {
        type_: DataFormType::Result_,
        title: Some(title.to_owned()),
        instructions: None,
        fields,
    }
    .into()
}

/// A result table: a title, its columns as `(var, label)`, and one row of
/// values per item, in the columns' order.
pub fn table(title: &str, columns: &[(&str, &str)], rows: &[Vec<String>]) -> Element {
    let mut x = with_attr(empty("x", ns::DATA_FORMS), "type", "result");
    x.append_child(text("title", ns::DATA_FORMS, title));
    let mut reported = empty("reported", ns::DATA_FORMS);
    for (var, label) in columns {
        let field = with_attr(empty("field", ns::DATA_FORMS), "var", var);
        reported.append_child(with_attr(field, "label", label));
    }
    x.append_child(reported);
    for row in rows {
        let mut item = empty("item", ns::DATA_FORMS);
        for ((var, _), value) in columns.iter().zip(row) {
            let mut field = with_attr(empty("field", ns::DATA_FORMS), "var", var);
            field.append_child(text("value", ns::DATA_FORMS, value.clone()));
            item.append_child(field);
        }
        x.append_child(item);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Result<CommandRequest, MalformedCommand> {
        CommandRequest::parse(&xml.parse::<Element>().unwrap())
    }

    #[test]
    fn a_request_reads_node_action_session_and_form() {
        let request = parse(
            "<command xmlns='http://jabber.org/protocol/commands' node='kick' sessionid='s1' action='complete'>\
             <x xmlns='jabber:x:data' type='submit'><field var='jid'><value> a@b </value></field></x></command>",
        )
        .unwrap();
        assert_eq!(request.node, "kick");
        assert_eq!(request.action, Action::Complete);
        assert_eq!(request.session_id.as_deref(), Some("s1"));
        assert_eq!(request.value("jid"), Some("a@b"));
        assert_eq!(request.value("other"), None);
        let plain =
            parse("<command xmlns='http://jabber.org/protocol/commands' node='status'/>").unwrap();
        assert_eq!(plain.action, Action::Execute, "execute is the default");
        assert!(plain.form.is_none());
    }

    #[test]
    fn a_request_without_node_or_with_a_strange_action_is_malformed() {
        assert!(parse("<command xmlns='http://jabber.org/protocol/commands'/>").is_err());
        let err =
            parse("<command xmlns='http://jabber.org/protocol/commands' node='a' action='dance'/>")
                .unwrap_err();
        assert!(err.0.contains("dance"), "{err:?}");
    }

    #[test]
    fn an_executing_answer_offers_complete_and_carries_its_form() {
        let element: Element = CommandResponse {
            node: "kick".into(),
            session_id: "s1".into(),
            status: Status::Executing,
            note: None,
            form: Some(form(
                "Kick",
                "Whom?",
                vec![Field::new("jid", FieldType::JidSingle)],
            )),
        }
        .into();
        assert!(element.is("command", NS));
        assert_eq!(element.attr("status"), Some("executing"));
        assert_eq!(element.attr("sessionid"), Some("s1"));
        let actions = element.get_child("actions", NS).unwrap();
        assert_eq!(actions.attr("execute"), Some("complete"));
        assert!(actions.has_child("complete", NS));
        let x = element.get_child("x", ns::DATA_FORMS).unwrap();
        assert_eq!(x.attr("type"), Some("form"));
        let field = x.get_child("field", ns::DATA_FORMS).unwrap();
        assert_eq!(field.attr("type"), Some("jid-single"));
    }

    #[test]
    fn a_completed_answer_has_a_note_and_no_actions() {
        let element: Element = CommandResponse {
            node: "logout".into(),
            session_id: "s2".into(),
            status: Status::Completed,
            note: Some((NoteType::Info, "Logged out.".into())),
            form: None,
        }
        .into();
        assert_eq!(element.attr("status"), Some("completed"));
        assert!(!element.has_child("actions", NS));
        let note = element.get_child("note", NS).unwrap();
        assert_eq!(note.attr("type"), Some("info"));
        assert_eq!(note.text(), "Logged out.");
    }

    #[test]
    fn a_table_reports_its_columns_then_one_item_per_row() {
        let x = table(
            "Contacts",
            &[("jid", "JID"), ("name", "Name")],
            &[
                vec!["a@gw".into(), "Ann".into()],
                vec!["b@gw".into(), "Bob".into()],
            ],
        );
        assert_eq!(x.attr("type"), Some("result"));
        let reported = x.get_child("reported", ns::DATA_FORMS).unwrap();
        let vars: Vec<_> = reported.children().filter_map(|f| f.attr("var")).collect();
        assert_eq!(vars, ["jid", "name"]);
        let items: Vec<_> = x
            .children()
            .filter(|c| c.is("item", ns::DATA_FORMS))
            .collect();
        assert_eq!(items.len(), 2);
        let second: Vec<_> = items[1]
            .children()
            .map(|f| f.children().next().unwrap().text())
            .collect();
        assert_eq!(second, ["b@gw", "Bob"]);
    }

    #[test]
    fn errors_carry_the_specific_condition() {
        let e = error(
            DefinedCondition::BadRequest,
            CommandError::BadSessionId,
            "expired",
        );
        assert_eq!(e.defined_condition, DefinedCondition::BadRequest);
        let other = e.other.unwrap();
        assert!(other.is("bad-sessionid", NS));
    }
}
