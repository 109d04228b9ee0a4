//! XEP-0292 (vCard4 over XMPP) and XEP-0054 (vcard-temp): a puppet's
//! profile, as modern and as older clients ask for it.

use base64::Engine;
use jid::BareJid;
use minidom::Element;

use super::text;

/// vCard4's namespace (RFC 6351).
pub const VCARD4: &str = "urn:ietf:params:xml:ns:vcard-4.0";
/// XEP-0292's PEP node.
pub const VCARD4_NODE: &str = "urn:xmpp:vcard4";
/// vcard-temp's namespace.
pub const VCARD_TEMP: &str = "vcard-temp";

/// A contact's profile: slidge's `set_vcard` fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VCard {
    /// The full name.
    pub full_name: Option<String>,
    /// The given name.
    pub given: Option<String>,
    /// The family name.
    pub surname: Option<String>,
    /// The birthday, as the network gives it.
    pub birthday: Option<String>,
    /// Phone numbers.
    pub phones: Vec<String>,
    /// A free-text note.
    pub note: Option<String>,
    /// A web page.
    pub url: Option<String>,
    /// An email address.
    pub email: Option<String>,
    /// The country.
    pub country: Option<String>,
    /// The town.
    pub locality: Option<String>,
}

impl VCard {
    /// The vCard4 element; it always names the puppet's JID.
    pub fn to_vcard4(&self, jid: &BareJid) -> Element {
        let mut vcard = Element::builder("vcard", VCARD4).build();
        vcard.append_child(wrapped("impp", "uri", &format!("xmpp:{jid}")));
        if let Some(name) = &self.full_name {
            vcard.append_child(wrapped("fn", "text", name));
        }
        if self.given.is_some() || self.surname.is_some() {
            let mut n = Element::builder("n", VCARD4).build();
            if let Some(surname) = &self.surname {
                n.append_child(text("surname", VCARD4, surname.clone()));
            }
            if let Some(given) = &self.given {
                n.append_child(text("given", VCARD4, given.clone()));
            }
            vcard.append_child(n);
        }
        if let Some(birthday) = &self.birthday {
            vcard.append_child(wrapped("bday", "date", birthday));
        }
        for phone in &self.phones {
            vcard.append_child(wrapped("tel", "uri", &format!("tel:{phone}")));
        }
        if let Some(note) = &self.note {
            vcard.append_child(wrapped("note", "text", note));
        }
        if let Some(url) = &self.url {
            vcard.append_child(wrapped("url", "uri", url));
        }
        if let Some(email) = &self.email {
            vcard.append_child(wrapped("email", "text", email));
        }
        if self.country.is_some() || self.locality.is_some() {
            let mut adr = Element::builder("adr", VCARD4).build();
            if let Some(locality) = &self.locality {
                adr.append_child(text("locality", VCARD4, locality.clone()));
            }
            if let Some(country) = &self.country {
                adr.append_child(text("country", VCARD4, country.clone()));
            }
            vcard.append_child(adr);
        }
        vcard
    }

    /// The vcard-temp element, with the avatar as `PHOTO` if there is one.
    pub fn to_vcard_temp(&self, photo: Option<(&str, &[u8])>) -> Element {
        let mut vcard = Element::builder("vCard", VCARD_TEMP).build();
        let field = |name: &str, value: &str| text(name, VCARD_TEMP, value.to_owned());
        if let Some(name) = &self.full_name {
            vcard.append_child(field("FN", name));
        }
        if self.given.is_some() || self.surname.is_some() {
            let mut n = Element::builder("N", VCARD_TEMP).build();
            if let Some(surname) = &self.surname {
                n.append_child(field("FAMILY", surname));
            }
            if let Some(given) = &self.given {
                n.append_child(field("GIVEN", given));
            }
            vcard.append_child(n);
        }
        if let Some(birthday) = &self.birthday {
            vcard.append_child(field("BDAY", birthday));
        }
        for phone in &self.phones {
            vcard.append_child(
                Element::builder("TEL", VCARD_TEMP)
                    .append(field("NUMBER", phone))
                    .build(),
            );
        }
        if let Some(note) = &self.note {
            vcard.append_child(field("DESC", note));
        }
        if let Some(url) = &self.url {
            vcard.append_child(field("URL", url));
        }
        if let Some(email) = &self.email {
            vcard.append_child(
                Element::builder("EMAIL", VCARD_TEMP)
                    .append(field("USERID", email))
                    .build(),
            );
        }
        if self.country.is_some() || self.locality.is_some() {
            let mut adr = Element::builder("ADR", VCARD_TEMP).build();
            if let Some(locality) = &self.locality {
                adr.append_child(field("LOCALITY", locality));
            }
            if let Some(country) = &self.country {
                adr.append_child(field("CTRY", country));
            }
            vcard.append_child(adr);
        }
        if let Some((mime, data)) = photo {
            let encoded = base64::engine::general_purpose::STANDARD.encode(data);
            vcard.append_child(
                Element::builder("PHOTO", VCARD_TEMP)
                    .append(field("TYPE", mime))
                    .append(field("BINVAL", &encoded))
                    .build(),
            );
        }
        vcard
    }
}

/// `<name><inner>value</inner></name>` in the vCard4 namespace.
fn wrapped(name: &str, inner: &str, value: &str) -> Element {
    Element::builder(name, VCARD4)
        .append(text(inner, VCARD4, value.to_owned()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VCard {
        VCard {
            full_name: Some("Contact 0".into()),
            email: Some("c0@echo.invalid".into()),
            note: Some("echo contact".into()),
            phones: vec!["+33 1".into()],
            ..VCard::default()
        }
    }

    #[test]
    fn vcard4_has_the_fields_and_the_jid() {
        let el = sample().to_vcard4(&BareJid::new("c0@gw").unwrap());
        let get = |name: &str, inner: &str| {
            el.get_child(name, VCARD4)
                .and_then(|c| c.get_child(inner, VCARD4))
                .map(Element::text)
        };
        assert_eq!(get("impp", "uri").as_deref(), Some("xmpp:c0@gw"));
        assert_eq!(get("fn", "text").as_deref(), Some("Contact 0"));
        assert_eq!(get("email", "text").as_deref(), Some("c0@echo.invalid"));
        assert_eq!(get("note", "text").as_deref(), Some("echo contact"));
        assert_eq!(get("tel", "uri").as_deref(), Some("tel:+33 1"));
    }

    #[test]
    fn vcard_temp_has_the_fields_and_the_photo() {
        let el = sample().to_vcard_temp(Some(("image/png", b"png")));
        assert_eq!(
            el.get_child("FN", VCARD_TEMP).map(Element::text).as_deref(),
            Some("Contact 0")
        );
        let photo = el.get_child("PHOTO", VCARD_TEMP).unwrap();
        assert_eq!(
            photo.get_child("TYPE", VCARD_TEMP).unwrap().text(),
            "image/png"
        );
        assert_eq!(
            photo.get_child("BINVAL", VCARD_TEMP).unwrap().text(),
            "cG5n"
        );
        let empty = VCard::default().to_vcard_temp(None);
        assert_eq!(empty.children().count(), 0);
    }

    #[test]
    fn a_vcard_round_trips_through_json() {
        let json = serde_json::to_string(&sample()).unwrap();
        assert_eq!(serde_json::from_str::<VCard>(&json).unwrap(), sample());
    }
}
