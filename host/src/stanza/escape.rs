//! XEP-0106: JID Escaping.
//!
//! The default mapping between a legacy id and the local part of its puppet
//! JID, as slidge does it: the ten characters a local part cannot hold
//! (space, `"`, `&`, `'`, `/`, `:`, `<`, `>`, `@`, and `\` itself) become
//! `\20`…`\5c`.
//!
//! `jid` 0.12 only unescapes, and its unescape indexes past the end of a
//! local part that ends in `\` (a panic on input from outside), so both
//! halves live here.
//!
//! XEP-0106 alone cannot carry every id: nodeprep refuses code points that
//! Unicode 3.2 did not assign, emoji among them. Such a character becomes
//! `\u<hex>;` (its code point in lowercase hex), an extension of ours that
//! XEP-0106 unescaping leaves as it is and that [`unescape`] reverses.

/// The characters XEP-0106 escapes, with their codes.
const ESCAPES: [(char, &str); 10] = [
    (' ', "20"),
    ('"', "22"),
    ('&', "26"),
    ('\'', "27"),
    ('/', "2f"),
    (':', "3a"),
    ('<', "3c"),
    ('>', "3e"),
    ('@', "40"),
    ('\\', "5c"),
];

/// Why a legacy id has no default local part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    /// An empty id has no local part.
    #[error("an empty legacy id cannot be a JID")]
    Empty,
    /// XEP-0106 forbids escaped spaces at either end.
    #[error("a legacy id cannot start or end with a space")]
    EdgeSpace,
    /// The escaped id is not a valid local part (nodeprep refused it, or it
    /// is longer than 1023 bytes).
    #[error("legacy id {0:?} cannot be a JID local part")]
    NotANode(String),
}

/// Escapes a legacy id into a JID local part (before nodeprep).
pub fn escape(legacy_id: &str) -> Result<String, EscapeError> {
    if legacy_id.is_empty() {
        return Err(EscapeError::Empty);
    }
    if legacy_id.starts_with(' ') || legacy_id.ends_with(' ') {
        return Err(EscapeError::EdgeSpace);
    }
    let mut out = String::with_capacity(legacy_id.len());
    for c in legacy_id.chars() {
        match ESCAPES.iter().find(|(e, _)| *e == c) {
            Some((_, code)) => {
                out.push('\\');
                out.push_str(code);
            }
            None => out.push(c),
        }
    }
    Ok(out)
}

/// Unescapes a JID local part. Sequences that are not one of the ten codes
/// are kept as they are, as XEP-0106 says.
pub fn unescape(local: &str) -> String {
    let mut out = String::with_capacity(local.len());
    let mut rest = local;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some((c, len)) = wide_escape(after) {
            out.push(c);
            rest = &after[len..];
            continue;
        }
        let decoded = after.get(..2).and_then(|code| {
            ESCAPES
                .iter()
                .find(|(_, c)| c.eq_ignore_ascii_case(code))
                .map(|(ch, _)| *ch)
        });
        match decoded {
            Some(ch) => {
                out.push(ch);
                rest = &after[2..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Reads `u<hex>;` (after a backslash): the character and the bytes used.
fn wide_escape(after: &str) -> Option<(char, usize)> {
    let hex = after.strip_prefix('u')?;
    let end = hex.find(';')?;
    if end == 0 || end > 6 || !hex[..end].bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let c = char::from_u32(u32::from_str_radix(&hex[..end], 16).ok()?)?;
    Some((c, end + 2))
}

/// The local part for a legacy id after nodeprep, as the XMPP server will
/// see it: lowercased and normalised. Fails if no JID can hold it.
pub fn jid_username(legacy_id: &str) -> Result<String, EscapeError> {
    let escaped = escape(legacy_id)?;
    if let Some(username) = prepare_username(&escaped) {
        return Ok(username);
    }
    let mut widened = String::with_capacity(escaped.len() + 16);
    for c in escaped.chars() {
        let mut buf = [0u8; 4];
        if c.is_ascii() || prepare_username(c.encode_utf8(&mut buf)).is_some() {
            widened.push(c);
        } else {
            widened.push_str(&format!("\\u{:x};", u32::from(c)));
        }
    }
    prepare_username(&widened).ok_or_else(|| EscapeError::NotANode(legacy_id.to_owned()))
}

/// Nodeprep: the canonical form of a local part, if it is a valid one.
///
/// Prepared again until it no longer changes: nodeprep normalises after it
/// case-folds, so a few characters come out of one pass as ones it would
/// fold (U+03F9 `Ϲ` → `Σ`, which the next pass makes `σ`). The XMPP server
/// prepares the JIDs it routes, so only a fixed point names the same puppet
/// both ways (found by fuzzing).
pub fn prepare_username(local: &str) -> Option<String> {
    let mut prepared = jid::NodePart::new(local).ok()?.as_str().to_owned();
    for _ in 0..4 {
        let again = jid::NodePart::new(&prepared).ok()?.as_str().to_owned();
        if again == prepared {
            return Some(prepared);
        }
        prepared = again;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids that users and networks really have, hostile ones included.
    const HOSTILE: &[&str] = &[
        "c0",
        "juliet",
        "with space",
        "a@b",
        "a/b/c",
        "back\\slash",
        "\\",
        "\\20",
        "\\5c\\5c",
        "trailing\\",
        "quote\"amp&apos'lt<gt>colon:",
        "日本語のID",
        "emoji 🦀 id",
        "🦀",
        "\\u41;",
        "mixed @ / \\ : all",
        "1234567890",
        "a\\zz",
    ];

    #[test]
    fn escaping_round_trips_on_hostile_ids() {
        for id in HOSTILE {
            let local = escape(id).unwrap();
            assert_eq!(&unescape(&local), id, "round trip of {id:?} via {local:?}");
            for bad in [' ', '"', '&', '\'', '/', ':', '<', '>', '@'] {
                assert!(!local.contains(bad), "{local:?} still holds {bad:?}");
            }
        }
    }

    #[test]
    fn escaped_ids_are_valid_local_parts() {
        for id in HOSTILE {
            let local = jid_username(id).unwrap();
            assert!(jid::BareJid::new(&format!("{local}@gw.example")).is_ok());
            // Lowercase ids survive nodeprep as they are.
            if id.chars().all(|c| !c.is_uppercase()) {
                assert_eq!(unescape(&local), *id);
            }
        }
    }

    #[test]
    fn escaping_matches_xep_0106_examples() {
        assert_eq!(escape("space cadet").unwrap(), "space\\20cadet");
        assert_eq!(
            escape("call me \"ishmael\"").unwrap(),
            "call\\20me\\20\\22ishmael\\22"
        );
        assert_eq!(escape("at&t guy").unwrap(), "at\\26t\\20guy");
        assert_eq!(escape("d'artagnan").unwrap(), "d\\27artagnan");
        assert_eq!(escape("/.fanboy").unwrap(), "\\2f.fanboy");
        assert_eq!(escape("::foo::").unwrap(), "\\3a\\3afoo\\3a\\3a");
        assert_eq!(escape("<foo>").unwrap(), "\\3cfoo\\3e");
        assert_eq!(escape("user@host").unwrap(), "user\\40host");
        assert_eq!(escape("c:\\net").unwrap(), "c\\3a\\5cnet");
    }

    #[test]
    fn ids_without_a_local_part_are_refused() {
        assert_eq!(escape(""), Err(EscapeError::Empty));
        assert_eq!(escape(" lead"), Err(EscapeError::EdgeSpace));
        assert_eq!(escape("trail "), Err(EscapeError::EdgeSpace));
        assert!(matches!(
            jid_username(&"x".repeat(2000)),
            Err(EscapeError::NotANode(_))
        ));
    }

    #[test]
    fn a_prepared_local_part_is_a_fixed_point() {
        // One nodeprep pass turns U+03F9 into a capital sigma.
        assert_eq!(prepare_username("\u{3f9}").as_deref(), Some("σ"));
        assert_eq!(jid_username("\u{3f9}").as_deref(), Ok("σ"));
    }

    #[test]
    fn unescaping_outside_input_never_panics() {
        for local in [
            "\\", "a\\", "a\\2", "\\zz", "\\5", "é\\", "\\é", "\\\\", "\\2\\",
        ] {
            let _ = unescape(local);
        }
        assert_eq!(unescape("a\\"), "a\\");
        assert_eq!(unescape("\\5C"), "\\");
        assert_eq!(unescape("x\\41y"), "x\\41y");
        assert_eq!(unescape("\\u1f980;"), "🦀");
        for kept in ["\\u;", "\\u110000;", "\\uzz;", "\\u1234567;", "\\u41"] {
            assert_eq!(unescape(kept), kept);
        }
    }

    #[test]
    fn case_is_folded_by_nodeprep() {
        assert_eq!(jid_username("Bob").unwrap(), "bob");
        assert_eq!(jid_username("bob").unwrap(), "bob");
    }
}

/// Properties over arbitrary ids, beyond the hand-picked hostile ones.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// XEP-0106 escaping is reversible for every id it accepts, and
        /// leaves none of the ten characters bare.
        #[test]
        fn escape_then_unescape_is_the_identity(id in "\\PC{1,40}") {
            match escape(&id) {
                Ok(local) => {
                    prop_assert_eq!(unescape(&local), id);
                    prop_assert!(!local.contains(['@', '/', ' ', '"', '&', '\'', ':', '<', '>']));
                }
                Err(EscapeError::EdgeSpace) => prop_assert!(id.starts_with(' ') || id.ends_with(' ')),
                Err(e) => prop_assert!(false, "{id:?}: {e}"),
            }
        }

        /// Unescaping any local part (outside input) never panics, and a
        /// part without a backslash is left as it is.
        #[test]
        fn unescape_takes_anything(local in "(\\PC|\\\\[0-9a-fA-Fu;]{0,3}){0,30}") {
            let out = unescape(&local);
            if !local.contains('\\') {
                prop_assert_eq!(out, local);
            }
        }

        /// A default local part is a valid, already-prepared node, so the
        /// XMPP server sees exactly the JID the gateway stored; lowercase
        /// ids come back unchanged.
        #[test]
        fn jid_usernames_are_prepared_nodes(id in "[a-z0-9 @/:&'<>\\\\.\\-_é日🦀]{1,30}") {
            if let Ok(local) = jid_username(&id) {
                prop_assert_eq!(prepare_username(&local), Some(local.clone()));
                let jid = format!("{local}@gw.example");
                prop_assert!(jid::BareJid::new(&jid).is_ok(), "{}", jid);
                prop_assert_eq!(unescape(&local), id);
            } else {
                prop_assert!(id.starts_with(' ') || id.ends_with(' '), "{id:?} refused");
            }
        }
    }
}
