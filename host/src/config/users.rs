//! Who may register with a gateway: `allow_users` patterns.
//!
//! A gateway spends its operator's legacy accounts, bandwidth and plugin
//! memory on whoever registers, and with server-to-server federation
//! anyone on the XMPP network can send it a registration form. By default
//! only the users of the gateway's own server may register (the parent
//! domain of its JID: `echo.example.org` → `*@example.org`); the operator
//! widens or narrows that with patterns.

use std::fmt;

use jid::BareJid;
use serde::{Deserialize, Serialize};

/// One `allow_users` entry: `*` (anyone), `*@example.org` (everyone of
/// that domain) or `alice@example.org` (one user).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum UserPattern {
    /// `*`: any JID.
    Anyone,
    /// `*@domain`: every user of one domain (normalised).
    Domain(String),
    /// One bare JID.
    User(BareJid),
}

impl UserPattern {
    /// Whether `user` (a bare JID) is one this pattern admits.
    pub fn admits(&self, user: &BareJid) -> bool {
        match self {
            UserPattern::Anyone => true,
            UserPattern::Domain(domain) => user.domain().as_str() == domain,
            UserPattern::User(jid) => jid == user,
        }
    }

    /// Everyone on `domain`.
    pub fn domain_of(jid: &BareJid) -> Self {
        UserPattern::Domain(jid.domain().as_str().to_owned())
    }
}

impl From<UserPattern> for String {
    fn from(pattern: UserPattern) -> String {
        pattern.to_string()
    }
}

impl TryFrom<String> for UserPattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let refused = || format!("{text:?} must be *, *@domain or user@domain");
        if text == "*" {
            return Ok(UserPattern::Anyone);
        }
        if let Some(domain) = text.strip_prefix("*@") {
            // Parsed as a JID so that `Example.ORG` matches `example.org`.
            return BareJid::new(domain)
                .ok()
                .filter(|jid| jid.node().is_none())
                .map(|jid| UserPattern::domain_of(&jid))
                .ok_or_else(refused);
        }
        match BareJid::new(&text) {
            Ok(jid) if jid.node().is_some() => Ok(UserPattern::User(jid)),
            _ => Err(refused()),
        }
    }
}

impl fmt::Display for UserPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserPattern::Anyone => f.write_str("*"),
            UserPattern::Domain(domain) => write!(f, "*@{domain}"),
            UserPattern::User(jid) => write!(f, "{jid}"),
        }
    }
}

/// Whether any of `patterns` admits `user`.
pub fn admitted(patterns: &[UserPattern], user: &BareJid) -> bool {
    patterns.iter().any(|p| p.admits(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> Result<UserPattern, String> {
        UserPattern::try_from(text.to_owned())
    }

    fn jid(text: &str) -> BareJid {
        BareJid::new(text).unwrap()
    }

    #[test]
    fn each_form_admits_what_it_says() {
        let anyone = pattern("*").unwrap();
        let domain = pattern("*@Example.ORG").unwrap();
        let alice = pattern("Alice@example.org").unwrap();
        assert!(anyone.admits(&jid("x@elsewhere.net")));
        assert!(domain.admits(&jid("bob@example.org")));
        assert!(!domain.admits(&jid("bob@sub.example.org")));
        assert!(!domain.admits(&jid("bob@example.org.evil.net")));
        assert!(
            alice.admits(&jid("alice@example.org")),
            "nodeprep folds case"
        );
        assert!(!alice.admits(&jid("bob@example.org")));
        assert_eq!(domain.to_string(), "*@example.org");
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "",
            "*@",
            "**",
            "*@a@b",
            "@example.org",
            "a@b/c",
            "*.example.org",
        ] {
            assert!(pattern(bad).is_err(), "{bad:?} was accepted");
        }
        // A bare domain is not a user: it must be written *@domain.
        assert!(pattern("example.org").is_err());
    }
}
