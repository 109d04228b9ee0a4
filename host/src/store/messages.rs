//! The message id map legacy ⇄ XMPP, and slidge's read horizon.
//!
//! No query here has an `ORDER BY` or a `MAX`: with either, SQLite
//! re-prepares the statement at every run (the value bound to `contact_id`
//! may change its plan), which cost a tenth of the gateway's CPU in the echo
//! bench. A contact's rows for one id are few, so they are ordered here.

use rusqlite::params;

use super::{Result, Store};

const MAP: &str = "INSERT INTO messages (contact_id, legacy_id, xmpp_id, from_user, unread)
                   VALUES (?1, ?2, ?3, ?4, ?5)";
const BY_LEGACY_ID: &str =
    "SELECT id, xmpp_id, from_user FROM messages WHERE contact_id = ?1 AND legacy_id = ?2";
const BY_XMPP_ID: &str =
    "SELECT id, legacy_id, from_user FROM messages WHERE contact_id = ?1 AND xmpp_id = ?2";
const UNREAD: &str = "SELECT id, legacy_id FROM messages
                      WHERE contact_id = ?1 AND from_user = 0 AND unread = 1 AND id <= ?2";
const MARK_READ: &str = "UPDATE messages SET unread = 0
                         WHERE contact_id = ?1 AND from_user = 0 AND unread = 1 AND id <= ?2";

impl Store {
    /// Maps a message's legacy id to one of its XMPP ids. A contact's
    /// message starts unread; the user's own ones do not.
    pub fn map_message(
        &self,
        contact_id: i64,
        legacy_id: &str,
        xmpp_id: &str,
        from_user: bool,
    ) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        conn.prepare_cached(MAP)?.execute(params![
            contact_id, legacy_id, xmpp_id, from_user, !from_user
        ])?;
        Ok(())
    }

    /// The XMPP ids of a legacy message, oldest first (one legacy message
    /// may have been sent as several XMPP messages), each with whether the
    /// user wrote it.
    pub fn xmpp_ids(&self, contact_id: i64, legacy_id: &str) -> Result<Vec<(String, bool)>> {
        let db = self.db();
        let conn = &db.conn;
        let mut rows = conn
            .prepare_cached(BY_LEGACY_ID)?
            .query_map(params![contact_id, legacy_id], |row| {
                Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<std::result::Result<Vec<(i64, String, bool)>, _>>()?;
        rows.sort_unstable_by_key(|row| row.0);
        Ok(rows
            .into_iter()
            .map(|(_, xmpp_id, from_user)| (xmpp_id, from_user))
            .collect())
    }

    /// The legacy id behind an XMPP message id, if known.
    pub fn legacy_id(&self, contact_id: i64, xmpp_id: &str) -> Result<Option<String>> {
        Ok(self
            .by_xmpp_id(contact_id, xmpp_id)?
            .into_iter()
            .max_by_key(|row| row.0)
            .map(|(_, legacy_id, _)| legacy_id))
    }

    /// The `(id, legacy id, from user)` rows of a contact's XMPP message id.
    fn by_xmpp_id(&self, contact_id: i64, xmpp_id: &str) -> Result<Vec<(i64, String, bool)>> {
        let db = self.db();
        let rows = db
            .conn
            .prepare_cached(BY_XMPP_ID)?
            .query_map(params![contact_id, xmpp_id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows)
    }

    /// slidge's read horizon: the legacy ids of the contact's unread
    /// messages up to (and with) the one whose XMPP id is `xmpp_id`, oldest
    /// first, each once; they are marked read, so that no id is given twice.
    /// Empty if `xmpp_id` is not a known message of the contact.
    pub fn pop_unread_up_to(&self, contact_id: i64, xmpp_id: &str) -> Result<Vec<String>> {
        let Some(horizon) = self
            .by_xmpp_id(contact_id, xmpp_id)?
            .into_iter()
            .filter(|(_, _, from_user)| !from_user)
            .map(|row| row.0)
            .max()
        else {
            return Ok(Vec::new());
        };
        // Under the store's lock and inside its group transaction, so no
        // other write comes between the read and the update.
        let db = self.db();
        let conn = db.writer()?;
        let mut unread: Vec<(i64, String)> = conn
            .prepare_cached(UNREAD)?
            .query_map(params![contact_id, horizon], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<std::result::Result<_, _>>()?;
        conn.prepare_cached(MARK_READ)?
            .execute(params![contact_id, horizon])?;
        unread.sort_unstable_by_key(|row| row.0);
        let mut seen = std::collections::HashSet::new();
        Ok(unread
            .into_iter()
            .map(|(_, legacy_id)| legacy_id)
            .filter(|id| seen.insert(id.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// A store with one user and one contact; returns the user's and the
    /// contact's row ids.
    fn one_contact() -> (Store, i64, i64) {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        let c = store.insert_contact(user.id, "c0", "c0").unwrap();
        (store, user.id, c)
    }

    /// Maps the contact's message `e{n}` (XMPP id `e{n}`) and the user's
    /// `u{n}` (XMPP id `x{n}`).
    fn exchange(store: &Store, c: i64, n: u32) {
        store
            .map_message(c, &format!("e{n}"), &format!("e{n}"), false)
            .unwrap();
        store
            .map_message(c, &format!("u{n}"), &format!("x{n}"), true)
            .unwrap();
    }

    #[test]
    fn the_hot_statements_are_prepared_once() {
        let (store, user, c) = one_contact();
        for n in 0..4 {
            exchange(&store, c, n);
            store.xmpp_ids(c, &format!("u{n}")).unwrap();
            store.legacy_id(c, &format!("x{n}")).unwrap();
            store.pop_unread_up_to(c, &format!("e{n}")).unwrap();
            store.kv_set(user, &format!("k{n}"), b"v", 1000).unwrap();
            store.kv_get(user, &format!("k{n}")).unwrap();
            store.commit().unwrap();
        }
        let db = store.db();
        for sql in [
            MAP,
            BY_LEGACY_ID,
            BY_XMPP_ID,
            UNREAD,
            MARK_READ,
            super::super::KV_GET,
            super::super::KV_SET,
        ] {
            // The cache hands back the statement the store ran.
            let stmt = db.conn.prepare_cached(sql).unwrap();
            assert!(stmt.get_status(StatementStatus::Run) >= 4, "{sql} ran");
            assert_eq!(
                stmt.get_status(StatementStatus::RePrepare),
                0,
                "{sql} was prepared again at a run"
            );
        }
    }

    #[test]
    fn message_ids_map_both_ways() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        let c = store.insert_contact(user.id, "c0", "c0").unwrap();
        store.map_message(c, "u1", "client-a", true).unwrap();
        store.map_message(c, "u1", "client-b", true).unwrap();
        assert_eq!(
            store.xmpp_ids(c, "u1").unwrap(),
            [("client-a".to_owned(), true), ("client-b".to_owned(), true)]
        );
        assert_eq!(
            store.legacy_id(c, "client-b").unwrap().as_deref(),
            Some("u1")
        );
        assert_eq!(store.legacy_id(c, "nope").unwrap(), None);
        let other = store.insert_contact(user.id, "c1", "c1").unwrap();
        assert_eq!(
            store.legacy_id(other, "client-a").unwrap(),
            None,
            "ids are per contact"
        );
    }

    #[test]
    fn the_read_horizon_gives_each_unread_id_once() {
        let (store, _, c) = one_contact();
        for n in 1..=5 {
            exchange(&store, c, n);
        }
        assert_eq!(store.pop_unread_up_to(c, "e3").unwrap(), ["e1", "e2", "e3"]);
        assert_eq!(
            store.pop_unread_up_to(c, "e3").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(store.pop_unread_up_to(c, "e5").unwrap(), ["e4", "e5"]);
        assert_eq!(
            store.pop_unread_up_to(c, "x2").unwrap(),
            Vec::<String>::new(),
            "the user's own"
        );
        assert_eq!(
            store.pop_unread_up_to(c, "unknown").unwrap(),
            Vec::<String>::new()
        );
    }
}

/// The id map checked against a model (a plain list of rows) over random
/// sequences of writes and reads on two users' contacts.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Map {
            contact: usize,
            legacy: u8,
            xmpp: u8,
            from_user: bool,
        },
        XmppIds {
            contact: usize,
            legacy: u8,
        },
        LegacyId {
            contact: usize,
            xmpp: u8,
        },
        PopUnread {
            contact: usize,
            xmpp: u8,
        },
        Commit,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct ids, so that they collide within and across contacts.
        let contact = 0..3usize;
        prop_oneof![
            4 => (contact.clone(), 0..6u8, 0..6u8, any::<bool>()).prop_map(
                |(contact, legacy, xmpp, from_user)| Op::Map { contact, legacy, xmpp, from_user }
            ),
            1 => (contact.clone(), 0..6u8).prop_map(|(contact, legacy)| Op::XmppIds { contact, legacy }),
            1 => (contact.clone(), 0..6u8).prop_map(|(contact, xmpp)| Op::LegacyId { contact, xmpp }),
            2 => (contact, 0..6u8).prop_map(|(contact, xmpp)| Op::PopUnread { contact, xmpp }),
            1 => Just(Op::Commit),
        ]
    }

    /// One row of the model, in insertion order.
    struct Row {
        contact: usize,
        legacy: String,
        xmpp: String,
        from_user: bool,
        unread: bool,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn the_id_map_behaves_like_its_model(ops in proptest::collection::vec(op(), 1..80)) {
            let store = Store::open_in_memory().unwrap();
            // Contacts 0 and 1 belong to one user, contact 2 to another
            // user with a contact of the same legacy id.
            let alice = store.upsert_user("gw", "alice@x", &[]).unwrap();
            let bob = store.upsert_user("gw", "bob@x", &[]).unwrap();
            let contacts = [
                store.insert_contact(alice.id, "c0", "c0").unwrap(),
                store.insert_contact(alice.id, "c1", "c1").unwrap(),
                store.insert_contact(bob.id, "c0", "c0").unwrap(),
            ];
            let mut model: Vec<Row> = Vec::new();
            for op in ops {
                match op {
                    Op::Map { contact, legacy, xmpp, from_user } => {
                        let (legacy, xmpp) = (format!("l{legacy}"), format!("x{xmpp}"));
                        store.map_message(contacts[contact], &legacy, &xmpp, from_user).unwrap();
                        model.push(Row { contact, legacy, xmpp, from_user, unread: !from_user });
                    }
                    Op::XmppIds { contact, legacy } => {
                        let legacy = format!("l{legacy}");
                        let expected: Vec<(String, bool)> = model
                            .iter()
                            .filter(|r| r.contact == contact && r.legacy == legacy)
                            .map(|r| (r.xmpp.clone(), r.from_user))
                            .collect();
                        prop_assert_eq!(store.xmpp_ids(contacts[contact], &legacy).unwrap(), expected);
                    }
                    Op::LegacyId { contact, xmpp } => {
                        let xmpp = format!("x{xmpp}");
                        let expected = model
                            .iter()
                            .rev()
                            .find(|r| r.contact == contact && r.xmpp == xmpp)
                            .map(|r| r.legacy.clone());
                        prop_assert_eq!(store.legacy_id(contacts[contact], &xmpp).unwrap(), expected);
                    }
                    Op::PopUnread { contact, xmpp } => {
                        let xmpp = format!("x{xmpp}");
                        let horizon = model
                            .iter()
                            .rposition(|r| r.contact == contact && r.xmpp == xmpp && !r.from_user);
                        let mut expected: Vec<String> = Vec::new();
                        if let Some(horizon) = horizon {
                            for row in &mut model[..=horizon] {
                                if row.contact == contact && !row.from_user && row.unread {
                                    row.unread = false;
                                    if !expected.contains(&row.legacy) {
                                        expected.push(row.legacy.clone());
                                    }
                                }
                            }
                        }
                        prop_assert_eq!(store.pop_unread_up_to(contacts[contact], &xmpp).unwrap(), expected);
                    }
                    Op::Commit => store.commit().unwrap(),
                }
            }
        }
    }
}
