//! Groups: a user's rooms and their participants (each room's archive is
//! `archive`).
//!
//! A room's details (name, subject, type…) are one JSON column: the host
//! reads them whole at load and writes them whole on change, and new
//! details need no migration.

use rusqlite::params;

use super::{AvatarRow, Result, Store};

/// A room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    /// The row id.
    pub id: i64,
    /// The group's id on the legacy network.
    pub legacy_id: String,
    /// The local part of the room's JID.
    pub jid_username: String,
    /// Its details, as JSON.
    pub info: String,
}

/// A participant as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantRow {
    /// The row id.
    pub id: i64,
    /// Its nick in the room.
    pub nick: String,
    /// The contact it is, if it has one.
    pub contact_id: Option<i64>,
    /// Whether it is the user.
    pub is_user: bool,
    /// XEP-0045 affiliation.
    pub affiliation: String,
    /// XEP-0045 role.
    pub role: String,
    /// Its XEP-0421 occupant id, kept so that it stays the same across
    /// renames and restarts.
    pub occupant_id: String,
}

const SET_ROOM_INFO: &str = "UPDATE rooms SET info = ?2 WHERE id = ?1";

impl Store {
    /// Every room of a user.
    pub fn rooms(&self, user_id: i64) -> Result<Vec<RoomRow>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT id, legacy_id, jid_username, info FROM rooms WHERE user_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![user_id], |r| {
                Ok(RoomRow {
                    id: r.get(0)?,
                    legacy_id: r.get(1)?,
                    jid_username: r.get(2)?,
                    info: r.get(3)?,
                })
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Stores a new room and returns its row id.
    pub fn insert_room(&self, user_id: i64, legacy_id: &str, jid_username: &str) -> Result<i64> {
        let db = self.db();
        let conn = db.writer()?;
        conn.prepare_cached(
            "INSERT INTO rooms (user_id, legacy_id, jid_username) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![user_id, legacy_id, jid_username])?;
        Ok(conn.last_insert_rowid())
    }

    /// Records a room's details.
    pub fn set_room_info(&self, room_id: i64, info: &str) -> Result<()> {
        let db = self.db();
        db.writer()?
            .prepare_cached(SET_ROOM_INFO)?
            .execute(params![room_id, info])?;
        Ok(())
    }

    /// Stores a new avatar and records the room's details naming it,
    /// under one lock: the committer's pruning of unused avatars never
    /// sees the one in between.
    pub fn put_room_avatar(&self, room_id: i64, avatar: &AvatarRow, info: &str) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        super::contacts::put_avatar(conn, avatar)?;
        conn.prepare_cached(SET_ROOM_INFO)?
            .execute(params![room_id, info])?;
        Ok(())
    }

    /// Every participant of a room, in the order they came.
    pub fn participants(&self, room_id: i64) -> Result<Vec<ParticipantRow>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT id, nick, contact_id, is_user, affiliation, role, occupant_id FROM participants
             WHERE room_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![room_id], |r| {
                Ok(ParticipantRow {
                    id: r.get(0)?,
                    nick: r.get(1)?,
                    contact_id: r.get(2)?,
                    is_user: r.get(3)?,
                    affiliation: r.get(4)?,
                    role: r.get(5)?,
                    occupant_id: r.get(6)?,
                })
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Stores a new participant and returns its row id.
    pub fn insert_participant(&self, room_id: i64, row: &ParticipantRow) -> Result<i64> {
        let db = self.db();
        let conn = db.writer()?;
        conn.prepare_cached(
            "INSERT INTO participants (room_id, nick, contact_id, is_user, affiliation, role, occupant_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            room_id,
            row.nick,
            row.contact_id,
            row.is_user,
            row.affiliation,
            row.role,
            row.occupant_id
        ])?;
        Ok(conn.last_insert_rowid())
    }

    /// Records a participant's nick and standing.
    pub fn update_participant(
        &self,
        participant_id: i64,
        nick: &str,
        affiliation: &str,
        role: &str,
    ) -> Result<()> {
        let db = self.db();
        db.writer()?
            .prepare_cached(
                "UPDATE participants SET nick = ?2, affiliation = ?3, role = ?4 WHERE id = ?1",
            )?
            .execute(params![participant_id, nick, affiliation, role])?;
        Ok(())
    }

    /// Forgets a participant that left.
    pub fn delete_participant(&self, participant_id: i64) -> Result<()> {
        let db = self.db();
        db.writer()?
            .prepare_cached("DELETE FROM participants WHERE id = ?1")?
            .execute(params![participant_id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ArchiveRow;

    #[test]
    fn rooms_participants_and_archive_are_kept_and_go_with_the_user() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap().id;
        let room = store.insert_room(user, "g0", "g0").unwrap();
        store.set_room_info(room, r#"{"name":"Group 0"}"#).unwrap();
        let p = ParticipantRow {
            id: 0,
            nick: "Ann".into(),
            contact_id: None,
            is_user: false,
            affiliation: "member".into(),
            role: "participant".into(),
            occupant_id: "o1".into(),
        };
        let pid = store.insert_participant(room, &p).unwrap();
        let row = |stanza_id: &str, legacy_id: Option<&str>, at| ArchiveRow {
            id: 0,
            stanza_id: stanza_id.into(),
            xmpp_id: format!("x-{stanza_id}"),
            legacy_id: legacy_id.map(Into::into),
            at,
            xml: "<message/>".into(),
        };
        store.archive(room, &row("s1", Some("m1"), 10)).unwrap();
        store.archive(room, &row("s2", None, 5)).unwrap();
        store.commit().unwrap();
        let rooms = store.rooms(user).unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms[0].info, r#"{"name":"Group 0"}"#);
        assert_eq!(store.participants(room).unwrap()[0].id, pid);
        let last = store.archive_last(room, 10).unwrap();
        assert_eq!(
            last.iter()
                .map(|r| r.stanza_id.as_str())
                .collect::<Vec<_>>(),
            ["s2", "s1"],
            "oldest first, by date"
        );
        assert_eq!(
            store.archived_legacy_id(room, "x-s1").unwrap().as_deref(),
            Some("m1"),
            "by the id too"
        );
        assert_eq!(
            store.archived_xmpp_id(room, "m1").unwrap().as_deref(),
            Some("x-s1")
        );
        assert_eq!(store.archive_oldest(room).unwrap().unwrap().stanza_id, "s2");
        assert_eq!(
            store.archived_stanza_id(room, "m1").unwrap().as_deref(),
            Some("s1")
        );
        assert_eq!(
            store.archived_legacy_id(room, "s1").unwrap().as_deref(),
            Some("m1")
        );
        assert_eq!(store.archived_legacy_id(room, "s2").unwrap(), None);
        store.delete_participant(pid).unwrap();
        assert!(store.participants(room).unwrap().is_empty());
        store.delete_user(user).unwrap();
        store.commit().unwrap();
        assert!(store.rooms(user).unwrap().is_empty());
        assert!(store.archive_last(room, 10).unwrap().is_empty());
    }
}
