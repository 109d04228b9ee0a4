//! XEP-0077: In-Band Registration, with its XEP-0004 data form.
//!
//! The plugin declares its registration fields; this module turns them into
//! the form clients show, and reads back what they submit, either as a data
//! form or as XEP-0077's legacy child elements.

use minidom::Element;
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};

use super::{empty, ns, text};

/// How a field is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// One line of text.
    TextSingle,
    /// One line of text, hidden as it is typed (passwords, tokens).
    TextPrivate,
    /// A check box.
    Boolean,
}

/// One registration field, as the plugin declared it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// The XEP-0004 `var`.
    pub var: String,
    /// The label clients show.
    pub label: String,
    /// How it is shown.
    pub kind: FieldKind,
    /// Whether it must be filled.
    pub required: bool,
    /// The value used when left empty.
    pub default_value: Option<String>,
}

/// The registration form of a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationForm {
    /// The form's title.
    pub title: String,
    /// Instructions shown above the fields.
    pub instructions: String,
    /// The fields.
    pub fields: Vec<FormField>,
}

/// What a user submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// `<remove/>`: unregister.
    Remove,
    /// Field values, as `(var, value)` pairs.
    Values(Vec<(String, String)>),
}

/// The XEP-0077 fields that have a legacy element of their own; clients
/// that predate data forms fill these.
const LEGACY_FIELDS: &[&str] = &[
    "username", "nick", "password", "name", "first", "last", "email", "address", "city", "state",
    "zip", "phone", "url", "date", "misc", "text", "key",
];

impl RegistrationForm {
    /// The `<query xmlns='jabber:iq:register'/>` answering a get; with the
    /// user's current values and `<registered/>` when they are registered.
    pub fn to_query(&self, current: Option<&[(String, String)]>) -> Element {
        let value_of = |var: &str| {
            current.and_then(|values| {
                values
                    .iter()
                    .find(|(k, _)| k == var)
                    .map(|(_, v)| v.clone())
            })
        };
        let mut query = Element::builder("query", ns::REGISTER).build();
        if current.is_some() {
            query.append_child(empty("registered", ns::REGISTER));
        }
        query.append_child(text(
            "instructions",
            ns::REGISTER,
            self.instructions.clone(),
        ));
        for field in &self.fields {
            if LEGACY_FIELDS.contains(&field.var.as_str()) {
                let mut legacy = Element::builder(field.var.as_str(), ns::REGISTER).build();
                if let Some(value) = value_of(&field.var) {
                    legacy.append_text(value);
                }
                query.append_child(legacy);
            }
        }
        let fields = self
            .fields
            .iter()
            .map(|field| {
                let type_ = match field.kind {
                    FieldKind::TextSingle => FieldType::TextSingle,
                    FieldKind::TextPrivate => FieldType::TextPrivate,
                    FieldKind::Boolean => FieldType::Boolean,
                };
                let mut f = Field::new(&field.var, type_);
                f.label = Some(field.label.clone());
                f.required = field.required;
                if let Some(value) = value_of(&field.var).or_else(|| field.default_value.clone()) {
                    f.values.push(value);
                }
                f
            })
            .collect();
        let mut form = DataForm::new(DataFormType::Form, ns::REGISTER, fields);
        form.title = Some(self.title.clone());
        form.instructions = Some(self.instructions.clone());
        query.append_child(form.into());
        query
    }

    /// Checks submitted values against the fields: unknown ones are dropped,
    /// empty ones take their default, missing required ones are an error
    /// naming the field.
    pub fn complete(
        &self,
        submitted: &[(String, String)],
    ) -> Result<Vec<(String, String)>, String> {
        let mut values = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let given = submitted
                .iter()
                .find(|(k, _)| *k == field.var)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty());
            match given.or_else(|| field.default_value.clone()) {
                Some(value) => values.push((field.var.clone(), value)),
                None if field.required => return Err(format!("missing field: {}", field.label)),
                None => {}
            }
        }
        Ok(values)
    }
}

/// Reads an iq set's `<query xmlns='jabber:iq:register'/>`.
pub fn parse_submission(query: &Element) -> Result<Submission, String> {
    if !query.is("query", ns::REGISTER) {
        return Err("expected a jabber:iq:register query".to_owned());
    }
    if query.has_child("remove", ns::REGISTER) {
        return Ok(Submission::Remove);
    }
    if let Some(x) = query.get_child("x", ns::DATA_FORMS) {
        let form = DataForm::try_from(x.clone()).map_err(|e| format!("bad data form: {e}"))?;
        if form.type_ != DataFormType::Submit {
            return Err("the data form must be of type submit".to_owned());
        }
        let values = form
            .fields
            .into_iter()
            .filter(|f| f.type_ != FieldType::Hidden)
            .filter_map(|f| Some((f.var?, f.values.into_iter().next().unwrap_or_default())))
            .collect();
        return Ok(Submission::Values(values));
    }
    let values = query
        .children()
        .filter(|c| c.ns() == ns::REGISTER && LEGACY_FIELDS.contains(&c.name()))
        .map(|c| (c.name().to_owned(), c.text()))
        .collect();
    Ok(Submission::Values(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> RegistrationForm {
        RegistrationForm {
            title: "Registration to Echo".into(),
            instructions: "Pick a name".into(),
            fields: vec![
                FormField {
                    var: "username".into(),
                    label: "User name".into(),
                    kind: FieldKind::TextSingle,
                    required: true,
                    default_value: None,
                },
                FormField {
                    var: "contacts".into(),
                    label: "Contacts".into(),
                    kind: FieldKind::TextSingle,
                    required: false,
                    default_value: Some("3".into()),
                },
            ],
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_form_lists_every_field_and_the_legacy_ones() {
        let query = form().to_query(None);
        assert!(!query.has_child("registered", ns::REGISTER));
        assert!(query.has_child("username", ns::REGISTER));
        assert!(!query.has_child("contacts", ns::REGISTER));
        let x = DataForm::try_from(query.get_child("x", ns::DATA_FORMS).unwrap().clone()).unwrap();
        assert_eq!(x.form_type(), Some(ns::REGISTER));
        assert_eq!(x.title.as_deref(), Some("Registration to Echo"));
        let vars: Vec<_> = x.fields.iter().filter_map(|f| f.var.clone()).collect();
        assert_eq!(vars, ["FORM_TYPE", "username", "contacts"]);
        assert!(x.fields[1].required);
        assert_eq!(x.fields[2].values, ["3"]);
    }

    #[test]
    fn a_registered_user_sees_their_values() {
        let current = pairs(&[("username", "romeo"), ("contacts", "7")]);
        let query = form().to_query(Some(&current));
        assert!(query.has_child("registered", ns::REGISTER));
        assert_eq!(
            query.get_child("username", ns::REGISTER).unwrap().text(),
            "romeo"
        );
        let x = DataForm::try_from(query.get_child("x", ns::DATA_FORMS).unwrap().clone()).unwrap();
        assert_eq!(x.fields[2].values, ["7"]);
    }

    #[test]
    fn submissions_are_read_from_forms_and_legacy_fields() {
        let submitted: Element =
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>\
            <field var='username'><value>romeo</value></field><field var='contacts'/></x></query>"
                .parse()
                .unwrap();
        assert_eq!(
            parse_submission(&submitted).unwrap(),
            Submission::Values(pairs(&[("username", "romeo"), ("contacts", "")]))
        );
        let legacy: Element =
            "<query xmlns='jabber:iq:register'><username>juliet</username></query>"
                .parse()
                .unwrap();
        assert_eq!(
            parse_submission(&legacy).unwrap(),
            Submission::Values(pairs(&[("username", "juliet")]))
        );
        let remove: Element = "<query xmlns='jabber:iq:register'><remove/></query>"
            .parse()
            .unwrap();
        assert_eq!(parse_submission(&remove).unwrap(), Submission::Remove);
        let wrong: Element =
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='form'/></query>"
                .parse()
                .unwrap();
        assert!(parse_submission(&wrong).is_err());
    }

    #[test]
    fn completion_applies_defaults_and_names_missing_fields() {
        assert_eq!(
            form().complete(&pairs(&[
                ("username", " romeo "),
                ("contacts", ""),
                ("x", "y")
            ])),
            Ok(pairs(&[("username", "romeo"), ("contacts", "3")]))
        );
        assert_eq!(
            form().complete(&pairs(&[("contacts", "5")])),
            Err("missing field: User name".to_owned())
        );
    }
}
