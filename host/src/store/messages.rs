//! The message id map legacy ⇄ XMPP, and slidge's read horizon.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};

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
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "INSERT INTO messages (contact_id, legacy_id, xmpp_id, from_user, unread)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        stmt.execute(params![
            contact_id, legacy_id, xmpp_id, from_user, !from_user
        ])?;
        Ok(())
    }

    /// The XMPP ids of a legacy message, oldest first (one legacy message
    /// may have been sent as several XMPP messages), each with whether the
    /// user wrote it.
    pub fn xmpp_ids(&self, contact_id: i64, legacy_id: &str) -> Result<Vec<(String, bool)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT xmpp_id, from_user FROM messages WHERE contact_id = ?1 AND legacy_id = ?2 ORDER BY id",
        )?;
        let ids = stmt
            .query_map(params![contact_id, legacy_id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(ids)
    }

    /// The legacy id behind an XMPP message id, if known.
    pub fn legacy_id(&self, contact_id: i64, xmpp_id: &str) -> Result<Option<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT legacy_id FROM messages WHERE contact_id = ?1 AND xmpp_id = ?2 ORDER BY id DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![contact_id, xmpp_id], |row| row.get(0))
            .optional()?)
    }

    /// slidge's read horizon: the legacy ids of the contact's unread
    /// messages up to (and with) the one whose XMPP id is `xmpp_id`, oldest
    /// first, each once; they are marked read, so that no id is given twice.
    /// Empty if `xmpp_id` is not a known message of the contact.
    pub fn pop_unread_up_to(&self, contact_id: i64, xmpp_id: &str) -> Result<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let horizon: Option<i64> = tx
            .query_row(
                "SELECT MAX(id) FROM messages WHERE contact_id = ?1 AND xmpp_id = ?2 AND from_user = 0",
                params![contact_id, xmpp_id],
                |row| row.get(0),
            )
            .optional()?
            .flatten();
        let Some(horizon) = horizon else {
            return Ok(Vec::new());
        };
        let mut ids: Vec<String> = {
            let mut stmt = tx.prepare_cached(
                "SELECT legacy_id FROM messages
                 WHERE contact_id = ?1 AND from_user = 0 AND unread = 1 AND id <= ?2 ORDER BY id",
            )?;
            stmt.query_map(params![contact_id, horizon], |row| row.get(0))?
                .collect::<std::result::Result<_, _>>()?
        };
        tx.execute(
            "UPDATE messages SET unread = 0 WHERE contact_id = ?1 AND from_user = 0 AND unread = 1 AND id <= ?2",
            params![contact_id, horizon],
        )?;
        tx.commit()?;
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        let c = store.insert_contact(user.id, "c0", "c0").unwrap();
        for n in 1..=5 {
            store
                .map_message(c, &format!("e{n}"), &format!("e{n}"), false)
                .unwrap();
            store
                .map_message(c, &format!("u{n}"), &format!("x{n}"), true)
                .unwrap();
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
