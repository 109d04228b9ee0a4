//! Contacts, their avatars and profiles.

use rusqlite::{OptionalExtension, params};

use super::{AvatarRow, ContactRow, Result, Store};

impl Store {
    /// Every contact of a user.
    pub fn contacts(&self, user_id: i64) -> Result<Vec<ContactRow>> {
        let db = self.db();
        let conn = &db.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT id, legacy_id, jid_username, name, in_roster, avatar_hash, avatar_unique_id,
                    vcard, vcard_fetched, push_unconfirmed
             FROM contacts WHERE user_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![user_id], contact_from_row)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Stores a new contact and returns its row id.
    pub fn insert_contact(&self, user_id: i64, legacy_id: &str, jid_username: &str) -> Result<i64> {
        let db = self.db();
        let conn = db.writer()?;
        let mut stmt = conn.prepare_cached(
            "INSERT INTO contacts (user_id, legacy_id, jid_username) VALUES (?1, ?2, ?3)",
        )?;
        stmt.execute(params![user_id, legacy_id, jid_username])?;
        Ok(conn.last_insert_rowid())
    }

    /// Records a contact's name.
    pub fn set_contact_name(&self, contact_id: i64, name: Option<&str>) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        let mut stmt = conn.prepare_cached("UPDATE contacts SET name = ?2 WHERE id = ?1")?;
        stmt.execute(params![contact_id, name])?;
        Ok(())
    }

    /// Records whether a contact is in the user's roster, and whether its
    /// roster push awaits the server's answer (one statement: this runs
    /// once per contact of a roster fill).
    pub fn set_contact_in_roster(
        &self,
        contact_id: i64,
        in_roster: bool,
        push_unconfirmed: bool,
    ) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        let mut stmt = conn.prepare_cached(
            "UPDATE contacts SET in_roster = ?2, push_unconfirmed = ?3 WHERE id = ?1",
        )?;
        stmt.execute(params![contact_id, in_roster, push_unconfirmed])?;
        Ok(())
    }

    /// Records whether a contact's roster push awaits the server's answer.
    pub fn set_push_unconfirmed(&self, contact_id: i64, unconfirmed: bool) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        let mut stmt =
            conn.prepare_cached("UPDATE contacts SET push_unconfirmed = ?2 WHERE id = ?1")?;
        stmt.execute(params![contact_id, unconfirmed])?;
        Ok(())
    }

    /// Stores an avatar image, unless one with the same hash is stored.
    pub fn put_avatar(&self, avatar: &AvatarRow) -> Result<()> {
        let db = self.db();
        put_avatar(db.writer()?, avatar)
    }

    /// Stores a new avatar and points a contact at it, under one lock:
    /// the committer's pruning of unused avatars never sees the one in
    /// between.
    pub fn put_contact_avatar(
        &self,
        contact_id: i64,
        avatar: &AvatarRow,
        unique_id: Option<&str>,
    ) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        put_avatar(conn, avatar)?;
        conn.prepare_cached(SET_CONTACT_AVATAR)?.execute(params![
            contact_id,
            avatar.hash,
            unique_id
        ])?;
        Ok(())
    }

    /// An avatar image by hash.
    pub fn avatar(&self, hash: &str) -> Result<Option<AvatarRow>> {
        let db = self.db();
        let conn = &db.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT hash, mime, width, height, data FROM avatars WHERE hash = ?1",
        )?;
        Ok(stmt
            .query_row(params![hash], |row| {
                Ok(AvatarRow {
                    hash: row.get(0)?,
                    mime: row.get(1)?,
                    width: row.get(2)?,
                    height: row.get(3)?,
                    data: row.get(4)?,
                })
            })
            .optional()?)
    }

    /// Records a contact's avatar (or its absence).
    pub fn set_contact_avatar(
        &self,
        contact_id: i64,
        hash: Option<&str>,
        unique_id: Option<&str>,
    ) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        let mut stmt = conn.prepare_cached(SET_CONTACT_AVATAR)?;
        stmt.execute(params![contact_id, hash, unique_id])?;
        Ok(())
    }

    /// Records a contact's profile (JSON), and that it needs no fetching.
    pub fn set_contact_vcard(&self, contact_id: i64, vcard: &str) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        let mut stmt =
            conn.prepare_cached("UPDATE contacts SET vcard = ?2, vcard_fetched = 1 WHERE id = ?1")?;
        stmt.execute(params![contact_id, vcard])?;
        Ok(())
    }

    /// Records that the plugin was asked for a contact's profile.
    pub fn set_vcard_fetched(&self, contact_id: i64) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        let mut stmt =
            conn.prepare_cached("UPDATE contacts SET vcard_fetched = 1 WHERE id = ?1")?;
        stmt.execute(params![contact_id])?;
        Ok(())
    }
}

fn contact_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ContactRow> {
    Ok(ContactRow {
        id: row.get(0)?,
        legacy_id: row.get(1)?,
        jid_username: row.get(2)?,
        name: row.get(3)?,
        in_roster: row.get(4)?,
        avatar_hash: row.get(5)?,
        avatar_unique_id: row.get(6)?,
        vcard: row.get(7)?,
        vcard_fetched: row.get(8)?,
        push_unconfirmed: row.get(9)?,
    })
}

const SET_CONTACT_AVATAR: &str =
    "UPDATE contacts SET avatar_hash = ?2, avatar_unique_id = ?3 WHERE id = ?1";

pub(super) fn put_avatar(conn: &rusqlite::Connection, avatar: &AvatarRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO avatars (hash, mime, width, height, data) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (hash) DO NOTHING",
    )?
    .execute(params![
        avatar.hash,
        avatar.mime,
        avatar.width,
        avatar.height,
        avatar.data
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jid_username_is_unique_per_user() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        store.insert_contact(user.id, "Bob", "bob").unwrap();
        assert!(store.insert_contact(user.id, "bob", "bob").is_err());
        let other = store.upsert_user("gw", "v@x", &[]).unwrap();
        store.insert_contact(other.id, "bob", "bob").unwrap();
    }

    #[test]
    fn avatars_are_stored_once_and_contacts_point_at_them() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        let a = store.insert_contact(user.id, "a", "a").unwrap();
        let b = store.insert_contact(user.id, "b", "b").unwrap();
        let avatar = AvatarRow {
            hash: "ab".repeat(20),
            mime: "image/png".into(),
            width: Some(64),
            height: Some(64),
            data: vec![1, 2, 3],
        };
        store.put_avatar(&avatar).unwrap();
        store.put_avatar(&avatar).unwrap();
        store
            .set_contact_avatar(a, Some(&avatar.hash), Some("a1"))
            .unwrap();
        store
            .set_contact_avatar(b, Some(&avatar.hash), None)
            .unwrap();
        assert_eq!(store.avatar(&avatar.hash).unwrap(), Some(avatar.clone()));
        let rows = store.contacts(user.id).unwrap();
        assert_eq!(rows[0].avatar_hash.as_deref(), Some(avatar.hash.as_str()));
        assert_eq!(rows[0].avatar_unique_id.as_deref(), Some("a1"));
        store.set_contact_vcard(b, "{}").unwrap();
        let rows = store.contacts(user.id).unwrap();
        assert!(rows[1].vcard_fetched && !rows[0].vcard_fetched);
    }
}
