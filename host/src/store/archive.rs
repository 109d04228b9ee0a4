//! Each room's archive: the groupchat messages, as sent, for history on
//! join and MAM, ordered by (date, row); the lookups by stanza-id, id and
//! legacy id that corrections, retractions and replies need; and the
//! per-user count and trimming of `max_archive_messages`.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};

/// Which page of a room's archive a MAM query asks for.
#[derive(Debug, Clone, Default)]
pub struct ArchivePage {
    /// Dated at or after (seconds since the epoch).
    pub start: Option<i64>,
    /// Dated at or before.
    pub end: Option<i64>,
    /// After (or, backwards, before) this (date, row) position.
    pub from: Option<(i64, i64)>,
    /// From the newest back.
    pub backwards: bool,
    /// At most this many.
    pub max: u32,
}

/// A message of a room's archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRow {
    /// The row id: the archive's order.
    pub id: i64,
    /// The `<stanza-id>` it went out with.
    pub stanza_id: String,
    /// Its `id` attribute (the client's, for the user's messages).
    pub xmpp_id: String,
    /// Its legacy id, if it has one.
    pub legacy_id: Option<String>,
    /// When it was sent, in seconds since the epoch.
    pub at: i64,
    /// The message as sent, without `to`.
    pub xml: String,
}

impl Store {
    /// Appends a message to a room's archive and returns its row id.
    pub fn archive(&self, room_id: i64, row: &ArchiveRow) -> Result<i64> {
        let db = self.db();
        let conn = db.writer()?;
        conn.prepare_cached(
            "INSERT INTO archive (room_id, stanza_id, xmpp_id, legacy_id, at, xml)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            room_id,
            row.stanza_id,
            row.xmpp_id,
            row.legacy_id,
            row.at,
            row.xml
        ])?;
        Ok(conn.last_insert_rowid())
    }

    /// A page of a room's archive (XEP-0313 with XEP-0059): the messages
    /// dated within `[start, end]`, after or before the position `from`,
    /// at most `max`, oldest first; and whether the page reaches the end it
    /// goes towards. `backwards` pages from the newest (an RSM `<before/>`).
    /// The archive's order is the messages' dates (a backfill adds older
    /// messages after newer ones), then the order they came in.
    pub fn archive_page(
        &self,
        room_id: i64,
        page: &ArchivePage,
    ) -> Result<(Vec<ArchiveRow>, bool)> {
        let db = self.db();
        let limit = page.max.saturating_add(1);
        let (start, end) = (page.start.unwrap_or(i64::MIN), page.end.unwrap_or(i64::MAX));
        let mut rows = if page.backwards {
            let (at, id) = page.from.unwrap_or((i64::MAX, i64::MAX));
            let mut stmt = db.conn.prepare_cached(
                "SELECT id, stanza_id, xmpp_id, legacy_id, at, xml FROM archive
                 WHERE room_id = ?1 AND at >= ?2 AND at <= ?3 AND at <= ?4
                   AND (at < ?4 OR id < ?5)
                 ORDER BY at DESC, id DESC LIMIT ?6",
            )?;
            stmt.query_map(params![room_id, start, end, at, id, limit], archive_row)?
                .collect::<std::result::Result<Vec<_>, _>>()?
        } else {
            let (at, id) = page.from.unwrap_or((i64::MIN, i64::MIN));
            let mut stmt = db.conn.prepare_cached(
                "SELECT id, stanza_id, xmpp_id, legacy_id, at, xml FROM archive
                 WHERE room_id = ?1 AND at >= ?2 AND at <= ?3 AND at >= ?4
                   AND (at > ?4 OR id > ?5)
                 ORDER BY at, id LIMIT ?6",
            )?;
            stmt.query_map(params![room_id, start, end, at, id, limit], archive_row)?
                .collect::<std::result::Result<Vec<_>, _>>()?
        };
        let complete = rows.len() <= page.max as usize;
        rows.truncate(page.max as usize);
        if page.backwards {
            rows.reverse();
        }
        Ok((rows, complete))
    }

    /// How many messages of a room's archive are dated within `[start, end]`.
    pub fn archive_count(&self, room_id: i64, start: Option<i64>, end: Option<i64>) -> Result<u64> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT COUNT(*) FROM archive WHERE room_id = ?1 AND at >= ?2 AND at <= ?3",
        )?;
        let count: i64 = stmt.query_row(
            params![room_id, start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX)],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// How many messages the archives of a user's rooms hold.
    pub fn archived_of_user(&self, user_id: i64) -> Result<u64> {
        let db = self.db();
        let count: i64 = db
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM archive
                 WHERE room_id IN (SELECT id FROM rooms WHERE user_id = ?1)",
            )?
            .query_row(params![user_id], |r| r.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Deletes the `count` oldest messages of a user's room archives (by
    /// date, then arrival); returns how many went.
    pub fn trim_archive(&self, user_id: i64, count: u64) -> Result<u64> {
        let db = self.db();
        let deleted = db
            .writer()?
            .prepare_cached(
                "DELETE FROM archive WHERE id IN (
                   SELECT a.id FROM archive a JOIN rooms r ON r.id = a.room_id
                   WHERE r.user_id = ?1 ORDER BY a.at, a.id LIMIT ?2)",
            )?
            .execute(params![user_id, i64::try_from(count).unwrap_or(i64::MAX)])?;
        Ok(deleted as u64)
    }

    /// The archive position (date, row) of a `<stanza-id>`.
    pub fn archive_row_of(&self, room_id: i64, stanza_id: &str) -> Result<Option<(i64, i64)>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT at, id FROM archive WHERE room_id = ?1 AND stanza_id = ?2 ORDER BY id DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![room_id, stanza_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// The oldest and newest messages of a room's archive (MAM metadata).
    pub fn archive_ends(&self, room_id: i64) -> Result<Option<(ArchiveRow, ArchiveRow)>> {
        let db = self.db();
        let mut first = db.conn.prepare_cached(
            "SELECT id, stanza_id, xmpp_id, legacy_id, at, xml FROM archive
             WHERE room_id = ?1 ORDER BY at, id LIMIT 1",
        )?;
        let Some(first) = first.query_row(params![room_id], archive_row).optional()? else {
            return Ok(None);
        };
        let mut last = db.conn.prepare_cached(
            "SELECT id, stanza_id, xmpp_id, legacy_id, at, xml FROM archive
             WHERE room_id = ?1 ORDER BY at DESC, id DESC LIMIT 1",
        )?;
        let last = last.query_row(params![room_id], archive_row)?;
        Ok(Some((first, last)))
    }

    /// The newest `count` messages of a room's archive, oldest first (by
    /// date).
    pub fn archive_last(&self, room_id: i64, count: u32) -> Result<Vec<ArchiveRow>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT id, stanza_id, xmpp_id, legacy_id, at, xml FROM archive
             WHERE room_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
        )?;
        let mut rows = stmt
            .query_map(params![room_id, count], archive_row)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.reverse();
        Ok(rows)
    }

    /// The date of the newest message of a room's archive.
    pub fn archive_newest_at(&self, room_id: i64) -> Result<Option<i64>> {
        let db = self.db();
        let mut stmt = db
            .conn
            .prepare_cached("SELECT MAX(at) FROM archive WHERE room_id = ?1")?;
        Ok(stmt.query_row(params![room_id], |r| r.get(0))?)
    }

    /// The oldest message of a room's archive, by date.
    pub fn archive_oldest(&self, room_id: i64) -> Result<Option<ArchiveRow>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT id, stanza_id, xmpp_id, legacy_id, at, xml FROM archive
             WHERE room_id = ?1 ORDER BY at, id LIMIT 1",
        )?;
        Ok(stmt.query_row(params![room_id], archive_row).optional()?)
    }

    /// The `<stanza-id>` of the archived message with this legacy id.
    pub fn archived_stanza_id(&self, room_id: i64, legacy_id: &str) -> Result<Option<String>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT stanza_id FROM archive WHERE room_id = ?1 AND legacy_id = ?2
             ORDER BY id DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![room_id, legacy_id], |r| r.get(0))
            .optional()?)
    }

    /// The legacy id of the archived message with this `<stanza-id>`, or
    /// else this `id` (clients name a groupchat message by either).
    pub fn archived_legacy_id(&self, room_id: i64, id: &str) -> Result<Option<String>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT legacy_id FROM archive WHERE room_id = ?1 AND (stanza_id = ?2 OR xmpp_id = ?2)
             AND legacy_id IS NOT NULL ORDER BY stanza_id = ?2 DESC, id DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![room_id, id], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
    }

    /// The archived message with this legacy id (the newest, if several).
    pub fn archived_by_legacy_id(
        &self,
        room_id: i64,
        legacy_id: &str,
    ) -> Result<Option<ArchiveRow>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT id, stanza_id, xmpp_id, legacy_id, at, xml FROM archive
             WHERE room_id = ?1 AND legacy_id = ?2 ORDER BY id DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![room_id, legacy_id], archive_row)
            .optional()?)
    }

    /// The archived message with this `<stanza-id>`.
    pub fn archived_by_stanza_id(
        &self,
        room_id: i64,
        stanza_id: &str,
    ) -> Result<Option<ArchiveRow>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT id, stanza_id, xmpp_id, legacy_id, at, xml FROM archive
             WHERE room_id = ?1 AND stanza_id = ?2 LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![room_id, stanza_id], archive_row)
            .optional()?)
    }

    /// Replaces what the archive holds of a message (a retraction's
    /// tombstone).
    pub fn set_archived_xml(&self, row_id: i64, xml: &str) -> Result<()> {
        let db = self.db();
        db.writer()?
            .prepare_cached("UPDATE archive SET xml = ?2 WHERE id = ?1")?
            .execute(params![row_id, xml])?;
        Ok(())
    }

    /// The `id` attribute of the archived message with this legacy id.
    pub fn archived_xmpp_id(&self, room_id: i64, legacy_id: &str) -> Result<Option<String>> {
        let db = self.db();
        let mut stmt = db.conn.prepare_cached(
            "SELECT xmpp_id FROM archive WHERE room_id = ?1 AND legacy_id = ?2
             ORDER BY id DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![room_id, legacy_id], |r| r.get(0))
            .optional()?)
    }
}

fn archive_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ArchiveRow> {
    Ok(ArchiveRow {
        id: r.get(0)?,
        stanza_id: r.get(1)?,
        xmpp_id: r.get(2)?,
        legacy_id: r.get(3)?,
        at: r.get(4)?,
        xml: r.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_pages_forwards_backwards_and_by_date() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap().id;
        let room = store.insert_room(user, "g0", "g0").unwrap();
        for i in 1..=10 {
            store
                .archive(
                    room,
                    &ArchiveRow {
                        id: 0,
                        stanza_id: format!("s{i}"),
                        xmpp_id: format!("s{i}"),
                        legacy_id: None,
                        at: i * 100,
                        xml: "<message/>".into(),
                    },
                )
                .unwrap();
        }
        // A backfilled message, older than all, archived last.
        let backfilled = ArchiveRow {
            id: 0,
            stanza_id: "s0".into(),
            xmpp_id: "s0".into(),
            legacy_id: None,
            at: 50,
            xml: "<message/>".into(),
        };
        store.archive(room, &backfilled).unwrap();
        let ids =
            |rows: &[ArchiveRow]| rows.iter().map(|r| r.stanza_id.clone()).collect::<Vec<_>>();
        let page = |from, backwards, max| ArchivePage {
            from,
            backwards,
            max,
            ..ArchivePage::default()
        };
        let (rows, complete) = store.archive_page(room, &page(None, false, 3)).unwrap();
        assert_eq!(ids(&rows), ["s0", "s1", "s2"], "by date");
        assert!(!complete);
        let after = store.archive_row_of(room, "s3").unwrap();
        assert!(after.is_some());
        let (rows, _) = store.archive_page(room, &page(after, false, 3)).unwrap();
        assert_eq!(ids(&rows), ["s4", "s5", "s6"]);
        let (rows, complete) = store.archive_page(room, &page(None, true, 4)).unwrap();
        assert_eq!(
            ids(&rows),
            ["s7", "s8", "s9", "s10"],
            "the newest, oldest first"
        );
        assert!(!complete);
        let before = store.archive_row_of(room, "s3").unwrap();
        let (rows, complete) = store.archive_page(room, &page(before, true, 5)).unwrap();
        assert_eq!(ids(&rows), ["s0", "s1", "s2"]);
        assert!(complete);
        // Messages of one second page by their order of arrival.
        for id in ["t1", "t2", "t3"] {
            let same = ArchiveRow {
                id: 0,
                stanza_id: id.into(),
                xmpp_id: id.into(),
                legacy_id: None,
                at: 2000,
                xml: "<message/>".into(),
            };
            store.archive(room, &same).unwrap();
        }
        let t1 = store.archive_row_of(room, "t1").unwrap();
        let (rows, _) = store.archive_page(room, &page(t1, false, 5)).unwrap();
        assert_eq!(ids(&rows), ["t2", "t3"]);
        let t3 = store.archive_row_of(room, "t3").unwrap();
        let (rows, _) = store.archive_page(room, &page(t3, true, 1)).unwrap();
        assert_eq!(ids(&rows), ["t2"]);
        let dated = ArchivePage {
            start: Some(300),
            end: Some(500),
            max: 50,
            ..ArchivePage::default()
        };
        let (rows, complete) = store.archive_page(room, &dated).unwrap();
        assert_eq!(ids(&rows), ["s3", "s4", "s5"]);
        assert!(complete);
        assert_eq!(store.archive_count(room, Some(300), Some(500)).unwrap(), 3);
        let (first, last) = store.archive_ends(room).unwrap().unwrap();
        assert_eq!(
            (first.stanza_id.as_str(), last.stanza_id.as_str()),
            ("s0", "t3")
        );
    }
}
