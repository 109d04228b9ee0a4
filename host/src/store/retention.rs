//! What the database lets go of: the message id map past its retention,
//! avatars no contact or room shows any more, and, if the operator says so, the
//! rooms' archived messages past theirs. Without it the first two grow
//! with every message and every avatar change, for ever. (An archived
//! message is dated: its `at` says its age.)
//!
//! A message's age is known without a column or an index of its own: row
//! ids grow with time, so each pass notes the newest id it saw (a *mark*,
//! in `message_marks`), and a later pass deletes every row up to the
//! newest mark older than the retention. Ages are thus known to one pass
//! (an hour): a row lives between the retention and the retention plus an
//! hour. Corrections, retractions, reactions, replies and read markers
//! keep working on anything younger.

use std::time::Duration;

use rusqlite::params;

use super::{Result, Store};

/// Rows deleted per statement, each its own commit: the store's lock is
/// held a few milliseconds at a time (the sessions' writes, on the async
/// threads, wait for it), even on a long retention's first pass.
const CHUNK: i64 = 1_000;

/// What a pass let go of.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Rows of the message id map.
    pub messages: usize,
    /// Avatars no contact or room pointed at.
    pub avatars: usize,
}

impl Store {
    /// Deletes the rooms' archived messages dated before `keep` ago (the
    /// operator's `archive_retention_days`; by default archives are kept
    /// for ever), committing as it goes; returns how many went.
    pub fn prune_archive(&self, now: i64, keep: Duration) -> Result<usize> {
        let cutoff = now.saturating_sub(i64::try_from(keep.as_secs()).unwrap_or(i64::MAX));
        let mut pruned = 0;
        loop {
            let db = self.db();
            let deleted = db.writer()?.execute(
                "DELETE FROM archive WHERE id IN (SELECT id FROM archive WHERE at < ?1 LIMIT ?2)",
                params![cutoff, CHUNK],
            )?;
            db.commit()?;
            pruned += deleted;
            if deleted == 0 {
                return Ok(pruned);
            }
        }
    }

    /// One pass at `now` (Unix seconds): marks the newest message, deletes
    /// the messages older than `keep` and the unused avatars, committing
    /// as it goes.
    pub fn prune(&self, now: i64, keep: Duration) -> Result<Pruned> {
        let cutoff = now.saturating_sub(i64::try_from(keep.as_secs()).unwrap_or(i64::MAX));
        let cut: Option<i64> = {
            let db = self.db();
            let conn = db.writer()?;
            conn.execute(
                "INSERT OR REPLACE INTO message_marks (at, last_id)
                 VALUES (?1, (SELECT COALESCE(MAX(id), 0) FROM messages))",
                params![now],
            )?;
            conn.query_row(
                "SELECT MAX(last_id) FROM message_marks WHERE at <= ?1",
                params![cutoff],
                |row| row.get(0),
            )?
        };
        let mut pruned = Pruned::default();
        if let Some(cut) = cut {
            loop {
                let db = self.db();
                let deleted = db.writer()?.execute(
                    "DELETE FROM messages WHERE id <= MIN(?1, (SELECT MIN(id) FROM messages) + ?2)",
                    params![cut, CHUNK],
                )?;
                db.commit()?;
                pruned.messages += deleted;
                if deleted == 0 {
                    break;
                }
            }
        }
        let db = self.db();
        let conn = db.writer()?;
        // The newest mark past the cutoff is the next pass's floor; the
        // older ones are spent.
        conn.execute(
            "DELETE FROM message_marks
             WHERE at < (SELECT MAX(at) FROM message_marks WHERE at <= ?1)",
            params![cutoff],
        )?;
        pruned.avatars = conn.execute(
            "DELETE FROM avatars WHERE hash NOT IN
             (SELECT avatar_hash FROM contacts WHERE avatar_hash IS NOT NULL
              UNION SELECT info ->> '$.avatar_hash' FROM rooms
                    WHERE info ->> '$.avatar_hash' IS NOT NULL)",
            [],
        )?;
        db.commit()?;
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ArchiveRow, AvatarRow};

    #[test]
    fn the_archive_lets_go_of_what_is_older_than_the_retention() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        let room = store.insert_room(user.id, "g0", "g0").unwrap();
        let now = 1_000_000_000;
        for (id, at) in [("old", now - 31 * DAY), ("young", now - 29 * DAY)] {
            let row = ArchiveRow {
                id: 0,
                stanza_id: id.into(),
                xmpp_id: id.into(),
                legacy_id: None,
                at,
                xml: "<message/>".into(),
            };
            store.archive(room, &row).unwrap();
        }
        let pruned = store
            .prune_archive(now, Duration::from_secs(30 * DAY as u64))
            .unwrap();
        assert_eq!(pruned, 1);
        let left = store.archive_last(room, 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].stanza_id, "young");
    }

    const DAY: i64 = 86_400;

    #[test]
    fn messages_go_after_the_retention_and_not_before() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        let c = store.insert_contact(user.id, "c0", "c0").unwrap();
        let keep = Duration::from_secs(30 * DAY as u64);
        let t0 = 1_000_000_000;
        store.map_message(c, "old", "x-old", false).unwrap();
        assert_eq!(store.prune(t0, keep).unwrap().messages, 0);
        // A day later, a new one: both kept for 30 days.
        store.map_message(c, "new", "x-new", false).unwrap();
        assert_eq!(store.prune(t0 + DAY, keep).unwrap().messages, 0);
        assert_eq!(store.prune(t0 + 30 * DAY - 1, keep).unwrap().messages, 0);
        assert!(store.legacy_id(c, "x-old").unwrap().is_some());
        // 30 days after the first pass: the old one goes, the new one stays.
        assert_eq!(store.prune(t0 + 30 * DAY, keep).unwrap().messages, 1);
        assert_eq!(store.legacy_id(c, "x-old").unwrap(), None);
        assert_eq!(store.legacy_id(c, "x-new").unwrap().as_deref(), Some("new"));
        assert_eq!(store.prune(t0 + 31 * DAY, keep).unwrap().messages, 1);
        assert_eq!(store.legacy_id(c, "x-new").unwrap(), None);
    }

    #[test]
    fn ids_never_come_back_so_marks_never_date_new_rows_old() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        let leaving = store.upsert_user("gw", "v@x", &[]).unwrap();
        let a = store.insert_contact(user.id, "a", "a").unwrap();
        let b = store.insert_contact(leaving.id, "b", "b").unwrap();
        store.map_message(a, "a1", "xa1", false).unwrap();
        store.map_message(b, "b1", "xb1", false).unwrap();
        let keep = Duration::from_secs(DAY as u64);
        store.prune(0, keep).unwrap();
        // The newest rows go with their user; a new row must not take
        // their ids, which the mark at 0 covers.
        store.delete_user(leaving.id).unwrap();
        store.map_message(a, "a2", "xa2", false).unwrap();
        assert_eq!(store.prune(DAY, keep).unwrap().messages, 1, "only a1");
        assert_eq!(store.legacy_id(a, "xa2").unwrap().as_deref(), Some("a2"));
    }

    #[test]
    fn a_large_map_goes_in_chunks_and_unused_avatars_go() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        let c = store.insert_contact(user.id, "c0", "c0").unwrap();
        for n in 0..(CHUNK * 2 + 5) {
            store
                .map_message(c, &format!("l{n}"), &format!("x{n}"), true)
                .unwrap();
        }
        let avatar = |hash: &str| AvatarRow {
            hash: hash.into(),
            mime: "image/png".into(),
            width: None,
            height: None,
            data: vec![1, 2, 3],
        };
        store.put_avatar(&avatar("shown")).unwrap();
        store.put_avatar(&avatar("unused")).unwrap();
        store.set_contact_avatar(c, Some("shown"), None).unwrap();
        let room = store.insert_room(user.id, "g0", "g0").unwrap();
        store
            .put_room_avatar(room, &avatar("room's"), r#"{"avatar_hash":"room's"}"#)
            .unwrap();
        // No retention: the pass takes every row there is.
        let pruned = store.prune(0, Duration::ZERO).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                messages: (CHUNK * 2 + 5) as usize,
                avatars: 1
            }
        );
        assert_eq!(store.legacy_id(c, "x0").unwrap(), None);
        assert!(store.avatar("shown").unwrap().is_some());
        assert!(store.avatar("room's").unwrap().is_some(), "a room shows it");
        assert!(store.avatar("unused").unwrap().is_none());
    }
}
