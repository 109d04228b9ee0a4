//! The SQLite database: schema, migrations and every query.
//!
//! Nothing else in the host touches SQL. One file holds every gateway's data;
//! each row is keyed by the gateway's JID and the user, so several gateways
//! share it without seeing each other's rows. WAL mode lets readers go on
//! while a writer commits.
//!
//! Writes are grouped: the first write opens a transaction on the shared
//! connection, and later writes join it until [`Store::commit`]. The host
//! commits before anything leaves the process that could acknowledge a
//! write — a gateway's sender commits before it hands a batch of stanzas to
//! the link, a legacy stream before it writes bytes — and a background thread
//! commits whatever is left every [`COMMIT_INTERVAL`]. So what the host
//! acknowledged survives a kill, and a busy gateway pays for one commit per
//! batch of stanzas instead of one per row (a commit is most of a write's
//! cost: the WAL frames, the locks).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be decoded.
    #[error("database holds a bad value: {0}")]
    Corrupt(String),
    /// A commit failed, or SQLite rolled the open group of writes back on
    /// its own (a full disk, an I/O error): what the group held is gone, so
    /// the store refuses everything after, and the gateway stops (see
    /// [`Store::failed`]).
    #[error("the database lost writes it had taken ({0}): stopping, to restart from what it holds")]
    Failed(String),
    /// The file was written by a newer Gatehouse.
    #[error("database schema version {found} is newer than this Gatehouse knows ({known})")]
    TooNew {
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
}

/// Result of a store operation.
pub type Result<T> = std::result::Result<T, StoreError>;

mod archive;
mod contacts;
mod files;
mod messages;
mod retention;
mod rooms;

pub use archive::{ArchivePage, ArchiveRow};
pub use files::FileRow;
pub use retention::Pruned;
pub use rooms::{ParticipantRow, RoomRow};

/// Numbered migrations: entry `i` brings the schema from version `i` to
/// `i + 1`. Append only; never edit a released one.
const MIGRATIONS: &[&str] = &[
    // 1: users, their contacts, and the plugins' key-value stores.
    "CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        gateway TEXT NOT NULL,
        jid TEXT NOT NULL,
        registration TEXT NOT NULL,
        registered_at INTEGER NOT NULL,
        UNIQUE (gateway, jid)
    );
    CREATE TABLE contacts (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        legacy_id TEXT NOT NULL,
        jid_username TEXT NOT NULL,
        name TEXT,
        in_roster INTEGER NOT NULL DEFAULT 0,
        UNIQUE (user_id, legacy_id),
        UNIQUE (user_id, jid_username)
    );
    CREATE TABLE kv (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (user_id, key)
    );",
    // 2: the message id map legacy ⇄ XMPP, with the read horizon.
    "CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        legacy_id TEXT NOT NULL,
        xmpp_id TEXT NOT NULL,
        from_user INTEGER NOT NULL,
        unread INTEGER NOT NULL
    );
    CREATE INDEX messages_by_legacy_id ON messages (contact_id, legacy_id);
    CREATE INDEX messages_by_xmpp_id ON messages (contact_id, xmpp_id);",
    // 3: avatars (stored once, by hash) and profiles.
    "CREATE TABLE avatars (
        hash TEXT PRIMARY KEY,
        mime TEXT NOT NULL,
        width INTEGER,
        height INTEGER,
        data BLOB NOT NULL
    );
    ALTER TABLE contacts ADD COLUMN avatar_hash TEXT REFERENCES avatars(hash);
    ALTER TABLE contacts ADD COLUMN avatar_unique_id TEXT;
    ALTER TABLE contacts ADD COLUMN vcard TEXT;
    ALTER TABLE contacts ADD COLUMN vcard_fetched INTEGER NOT NULL DEFAULT 0;",
    // 4: roster pushes the server has not confirmed yet (a kill may have
    // come between the commit and the write): checked at the next login.
    "ALTER TABLE contacts ADD COLUMN push_unconfirmed INTEGER NOT NULL DEFAULT 0;",
    // 5: the bytes of each user's key-value store, kept by triggers, so
    // that a write checks the cap without summing the whole store.
    "ALTER TABLE users ADD COLUMN kv_bytes INTEGER NOT NULL DEFAULT 0;
    UPDATE users SET kv_bytes = (
        SELECT COALESCE(SUM(LENGTH(CAST(key AS BLOB)) + LENGTH(value)), 0)
        FROM kv WHERE kv.user_id = users.id);
    CREATE TRIGGER kv_added AFTER INSERT ON kv BEGIN
        UPDATE users SET kv_bytes = kv_bytes + LENGTH(CAST(NEW.key AS BLOB)) + LENGTH(NEW.value)
        WHERE id = NEW.user_id;
    END;
    CREATE TRIGGER kv_changed AFTER UPDATE OF value ON kv BEGIN
        UPDATE users SET kv_bytes = kv_bytes - LENGTH(OLD.value) + LENGTH(NEW.value)
        WHERE id = NEW.user_id;
    END;
    CREATE TRIGGER kv_removed AFTER DELETE ON kv BEGIN
        UPDATE users SET kv_bytes = kv_bytes - LENGTH(CAST(OLD.key AS BLOB)) - LENGTH(OLD.value)
        WHERE id = OLD.user_id;
    END;",
    // 6: the marks that date the message id map for its retention (see
    // `retention`); what is there now counts as of now. The map's ids
    // never come back (AUTOINCREMENT), since the marks date rows by id.
    "CREATE TABLE messages_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        legacy_id TEXT NOT NULL,
        xmpp_id TEXT NOT NULL,
        from_user INTEGER NOT NULL,
        unread INTEGER NOT NULL
    );
    INSERT INTO messages_new (id, contact_id, legacy_id, xmpp_id, from_user, unread)
        SELECT id, contact_id, legacy_id, xmpp_id, from_user, unread FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_new RENAME TO messages;
    CREATE INDEX messages_by_legacy_id ON messages (contact_id, legacy_id);
    CREATE INDEX messages_by_xmpp_id ON messages (contact_id, xmpp_id);
    CREATE TABLE message_marks (at INTEGER PRIMARY KEY, last_id INTEGER NOT NULL);
    INSERT INTO message_marks VALUES
        (CAST(strftime('%s', 'now') AS INTEGER), (SELECT COALESCE(MAX(id), 0) FROM messages));",
    // 7: groups (see `rooms` and `archive`): the user's rooms, their participants, and
    // each room's archive, whose ids never come back (MAM pages by them).
    "CREATE TABLE rooms (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        legacy_id TEXT NOT NULL,
        jid_username TEXT NOT NULL,
        info TEXT NOT NULL DEFAULT '{}',
        UNIQUE (user_id, legacy_id)
    );
    CREATE TABLE participants (
        id INTEGER PRIMARY KEY,
        room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        nick TEXT NOT NULL,
        contact_id INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
        is_user INTEGER NOT NULL DEFAULT 0,
        affiliation TEXT NOT NULL,
        role TEXT NOT NULL,
        occupant_id TEXT NOT NULL
    );
    CREATE INDEX participants_by_room ON participants (room_id);
    CREATE TABLE archive (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        stanza_id TEXT NOT NULL,
        xmpp_id TEXT NOT NULL,
        legacy_id TEXT,
        at INTEGER NOT NULL,
        xml TEXT NOT NULL
    );
    CREATE INDEX archive_by_room ON archive (room_id, id);
    CREATE INDEX archive_by_stanza_id ON archive (room_id, stanza_id);
    CREATE INDEX archive_by_legacy_id ON archive (room_id, legacy_id);
    CREATE INDEX archive_by_xmpp_id ON archive (room_id, xmpp_id);
    CREATE INDEX archive_by_date ON archive (room_id, at, id);
    CREATE INDEX archive_by_age ON archive (at);",
    // 8: the files sent to users, by legacy file id (see `files`): the same
    // file is stored once, its URL sent again.
    "CREATE TABLE files (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        legacy_file_id TEXT NOT NULL,
        url TEXT NOT NULL,
        name TEXT NOT NULL,
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 BLOB NOT NULL,
        stored_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, legacy_file_id)
    );",
];

const KV_GET: &str = "SELECT value FROM kv WHERE user_id = ?1 AND key = ?2";
/// The cap check reads the user's running total (migration 5) less what
/// the key holds now: two lookups by key, whatever the store's size.
const KV_SET: &str = "INSERT INTO kv (user_id, key, value)
                      SELECT ?1, ?2, ?3
                      WHERE (SELECT kv_bytes FROM users WHERE id = ?1)
                            - COALESCE((SELECT LENGTH(CAST(key AS BLOB)) + LENGTH(value)
                                        FROM kv WHERE user_id = ?1 AND key = ?2), 0)
                            + ?4 <= ?5
                      ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value";

/// A registered user of one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// The row id, the key of everything the user owns.
    pub id: i64,
    /// The user's bare JID.
    pub jid: String,
    /// The registration form the user filled, as `(var, value)` pairs.
    pub registration: Vec<(String, String)>,
}

/// A contact as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRow {
    /// The row id.
    pub id: i64,
    /// The contact's id on the legacy network.
    pub legacy_id: String,
    /// The local part of the contact's puppet JID.
    pub jid_username: String,
    /// The name shown in the roster.
    pub name: Option<String>,
    /// Whether the contact was added to the user's XMPP roster.
    pub in_roster: bool,
    /// The SHA-1 of its avatar, if it has one.
    pub avatar_hash: Option<String>,
    /// The network's id for that avatar, if it gave one.
    pub avatar_unique_id: Option<String>,
    /// Its profile, as JSON.
    pub vcard: Option<String>,
    /// Whether the plugin was asked for the profile already.
    pub vcard_fetched: bool,
    /// Whether its roster push went out without the server's answer yet.
    pub push_unconfirmed: bool,
}

/// An avatar image, stored once however many contacts use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarRow {
    /// SHA-1 of the bytes, lowercase hex.
    pub hash: String,
    /// Its MIME type.
    pub mime: String,
    /// Width in pixels, if known.
    pub width: Option<u32>,
    /// Height in pixels, if known.
    pub height: Option<u32>,
    /// The image file.
    pub data: Vec<u8>,
}

/// How often the committer lets go of old messages and unused avatars.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// The longest a write waits for its commit when nothing leaves the
/// process to force it.
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// A handle on the database, cheap to clone and shared by every session.
///
/// Queries are short (an indexed row or two), so they run on the calling
/// task under a mutex rather than on a blocking pool: a hop to another
/// thread would cost more than the query.
#[derive(Clone)]
pub struct Store {
    db: Arc<Mutex<Db>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// The connection, with the group transaction that writes join.
struct Db {
    conn: Connection,
    /// Whether we began a group that is not committed yet: SQLite being
    /// out of its transaction then means it rolled the group back itself.
    open: std::cell::Cell<bool>,
    /// Set once, on the first lost group; watched by the supervisor.
    failed: Arc<tokio::sync::watch::Sender<Option<String>>>,
}

impl Db {
    /// The connection, inside the group transaction (opened if none is).
    fn writer(&self) -> Result<&Connection> {
        self.check()?;
        if self.conn.is_autocommit() {
            self.conn.prepare_cached("BEGIN")?.execute([])?;
            self.open.set(true);
        }
        Ok(&self.conn)
    }

    /// Commits the group. A commit that fails, or a group SQLite already
    /// rolled back, is a failure for good: fail-stop, since a later commit
    /// succeeding would make stanzas acknowledge writes that are gone.
    fn commit(&self) -> Result<()> {
        self.check()?;
        if !self.open.get() {
            return Ok(());
        }
        if let Err(e) = self
            .conn
            .prepare_cached("COMMIT")
            .and_then(|mut c| c.execute([]))
        {
            return Err(self.fail(format!("commit: {e}")));
        }
        self.open.set(false);
        Ok(())
    }

    /// Err once the store has failed, or if the open group is gone.
    fn check(&self) -> Result<()> {
        if let Some(reason) = self.failed.borrow().clone() {
            return Err(StoreError::Failed(reason));
        }
        if self.open.get() && self.conn.is_autocommit() {
            return Err(self.fail("SQLite rolled the uncommitted writes back".to_owned()));
        }
        Ok(())
    }

    fn fail(&self, reason: String) -> StoreError {
        tracing::error!(%reason, "the database lost writes: stopping so that the service manager restarts from what it holds");
        self.failed.send_replace(Some(reason.clone()));
        StoreError::Failed(reason)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // The last handle is gone: what was written is kept.
        if let Err(e) = self.commit() {
            tracing::error!(error = %e, "the last writes could not be committed");
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up
    /// to date.
    pub fn open(path: &Path) -> Result<Self> {
        Self::setup(Connection::open(path)?)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Room for every statement the store runs (rusqlite keeps 16 by
        // default: fewer than the store has, so the hot ones were evicted
        // and prepared again).
        conn.set_prepared_statement_cache_capacity(64);
        // Checkpoint every 4000 pages (16 MiB of WAL) rather than 1000: a
        // checkpoint copies each changed page once however often it
        // changed, and the hot pages (the key-value rows, the newest id-map
        // rows) change at every message.
        conn.pragma_update(None, "wal_autocheckpoint", 4000)?;
        migrate(&conn)?;
        Ok(Self {
            db: Arc::new(Mutex::new(Db {
                conn,
                open: std::cell::Cell::new(false),
                failed: Arc::new(tokio::sync::watch::channel(None).0),
            })),
        })
    }

    /// Resolves once the store has lost writes (a failed commit, a group
    /// SQLite rolled back): the gateway then stops without sending what
    /// depended on them, and its service manager restarts it from the
    /// database, as after a `kill -9`.
    pub fn failed(&self) -> impl std::future::Future<Output = String> + Send + 'static {
        let mut watch = self.db().failed.subscribe();
        async move {
            let reason = watch
                .wait_for(Option::is_some)
                .await
                .map(|reason| reason.clone().unwrap_or_default());
            match reason {
                Ok(reason) => reason,
                // The store is gone: nothing can fail any more.
                Err(_) => std::future::pending().await,
            }
        }
    }

    fn db(&self) -> MutexGuard<'_, Db> {
        // A panic while holding the lock leaves SQLite consistent (it rolls
        // back the open statement), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Makes every write so far durable. Called before the host lets out
    /// anything that could acknowledge one.
    pub fn commit(&self) -> Result<()> {
        self.db().commit()
    }

    /// [`Store::commit`] on a blocking thread, for async code: the commit's
    /// disk writes (or a wait for the committer thread's) hold up no async
    /// worker. Nothing pending: nothing to hand over.
    pub async fn commit_blocking(&self) -> Result<()> {
        {
            // A group SQLite rolled back on its own is found here too:
            // nothing pending must mean nothing lost.
            let db = self.db();
            db.check()?;
            if !db.open.get() {
                return Ok(());
            }
        }
        let store = self.clone();
        match tokio::task::spawn_blocking(move || store.commit()).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Failed("the runtime is shutting down".into())),
        }
    }

    /// Whether some writes wait for a commit.
    pub fn has_uncommitted(&self) -> bool {
        !self.db().conn.is_autocommit()
    }

    /// Why the store failed, if it has (see [`Store::failed`]).
    pub fn failure(&self) -> Option<String> {
        self.db().failed.borrow().clone()
    }

    /// Rolls the open group back under the store, as SQLite does on its
    /// own on a full disk (for the tests of what follows).
    #[doc(hidden)]
    pub fn inject_rollback(&self) {
        let _ = self.db().conn.execute_batch("ROLLBACK");
    }

    /// Starts a thread that commits every [`COMMIT_INTERVAL`], for writes
    /// that nothing leaving the process forces out, and lets go of what
    /// is older than `retention` every [`PRUNE_INTERVAL`] (see
    /// [`Store::prune`]); it ends with the last handle on the store. (The
    /// host starts it; a store without it commits on [`Store::commit`] and
    /// when its last handle is dropped.)
    pub fn spawn_committer(&self, retention: Duration, archive_retention: Option<Duration>) {
        let db = Arc::downgrade(&self.db);
        let spawned = std::thread::Builder::new()
            .name("store-commit".into())
            .spawn(move || commit_until_gone(db, retention, archive_retention));
        if let Err(e) = spawned {
            // Writes are still committed by the senders and the streams.
            tracing::warn!(error = %e, "no periodic commits: cannot start a thread");
        }
    }

    /// Stores a new user, or replaces the registration of an existing one.
    pub fn upsert_user(
        &self,
        gateway: &str,
        jid: &str,
        registration: &[(String, String)],
    ) -> Result<UserRow> {
        let form =
            serde_json::to_string(registration).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let now = unix_now();
        let db = self.db();
        let conn = db.writer()?;
        let id: i64 = conn.query_row(
            "INSERT INTO users (gateway, jid, registration, registered_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (gateway, jid) DO UPDATE SET registration = excluded.registration
             RETURNING id",
            params![gateway, jid, form, now],
            |row| row.get(0),
        )?;
        Ok(UserRow {
            id,
            jid: jid.to_owned(),
            registration: registration.to_vec(),
        })
    }

    /// The user with this bare JID, if registered with this gateway.
    pub fn user(&self, gateway: &str, jid: &str) -> Result<Option<UserRow>> {
        let db = self.db();
        let conn = &db.conn;
        let row = conn
            .query_row(
                "SELECT id, jid, registration FROM users WHERE gateway = ?1 AND jid = ?2",
                params![gateway, jid],
                |row| Ok((row.get(0)?, row.get(1)?, row.get::<_, String>(2)?)),
            )
            .optional()?;
        row.map(user_from_parts).transpose()
    }

    /// Every user registered with this gateway.
    pub fn users(&self, gateway: &str) -> Result<Vec<UserRow>> {
        let db = self.db();
        let conn = &db.conn;
        let mut stmt =
            conn.prepare("SELECT id, jid, registration FROM users WHERE gateway = ?1 ORDER BY id")?;
        let rows = stmt
            .query_map(params![gateway], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get::<_, String>(2)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.into_iter().map(user_from_parts).collect()
    }

    /// Deletes a user and everything they own (contacts, key-value store).
    pub fn delete_user(&self, user_id: i64) -> Result<()> {
        self.db()
            .writer()?
            .execute("DELETE FROM users WHERE id = ?1", params![user_id])?;
        Ok(())
    }

    /// Reads a value of a user's plugin key-value store.
    pub fn kv_get(&self, user_id: i64, key: &str) -> Result<Option<Vec<u8>>> {
        let db = self.db();
        let conn = &db.conn;
        let mut stmt = conn.prepare_cached(KV_GET)?;
        Ok(stmt
            .query_row(params![user_id, key], |row| row.get(0))
            .optional()?)
    }

    /// Writes a value of a user's plugin key-value store, unless the store
    /// would then hold more than `cap` bytes (keys and values); Ok(false)
    /// when refused.
    pub fn kv_set(&self, user_id: i64, key: &str, value: &[u8], cap: u64) -> Result<bool> {
        // One statement: the cap check and the write cannot be split by
        // another writer. It joins the group transaction, committed before
        // anything that could acknowledge it leaves the process.
        let db = self.db();
        let conn = db.writer()?;
        let size = i64::try_from(key.len() + value.len()).unwrap_or(i64::MAX);
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        let changed = conn
            .prepare_cached(KV_SET)?
            .execute(params![user_id, key, value, size, cap])?;
        Ok(changed == 1)
    }

    /// Deletes a key of a user's plugin key-value store.
    pub fn kv_delete(&self, user_id: i64, key: &str) -> Result<()> {
        let db = self.db();
        let conn = db.writer()?;
        let mut stmt = conn.prepare_cached("DELETE FROM kv WHERE user_id = ?1 AND key = ?2")?;
        stmt.execute(params![user_id, key])?;
        Ok(())
    }
}

/// The committer thread's loop: commits, and now and then prunes.
fn commit_until_gone(db: Weak<Mutex<Db>>, retention: Duration, archive: Option<Duration>) {
    let mut next_prune = std::time::Instant::now();
    loop {
        std::thread::sleep(COMMIT_INTERVAL);
        let Some(db) = db.upgrade() else { return };
        if std::time::Instant::now() >= next_prune {
            next_prune += PRUNE_INTERVAL;
            let store = Store { db: db.clone() };
            match store.prune(unix_now(), retention) {
                Ok(pruned) => tracing::debug!(?pruned, "database pruned"),
                Err(StoreError::Failed(_)) => return,
                Err(e) => tracing::error!(error = %e, "cannot prune the database"),
            }
            if let Some(keep) = archive {
                match store.prune_archive(unix_now(), keep) {
                    Ok(archived) => tracing::debug!(archived, "archives pruned"),
                    Err(StoreError::Failed(_)) => return,
                    Err(e) => tracing::error!(error = %e, "cannot prune the archives"),
                }
            }
        }
        let guard = db.lock().unwrap_or_else(|poison| poison.into_inner());
        match guard.commit() {
            Ok(()) => {}
            // Announced once by the store; the process is stopping.
            Err(StoreError::Failed(_)) => return,
            Err(e) => tracing::error!(error = %e, "cannot commit to the database"),
        }
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "database migrated");
    }
    Ok(())
}

fn user_from_parts((id, jid, form): (i64, String, String)) -> Result<UserRow> {
    let registration =
        serde_json::from_str(&form).map_err(|e| StoreError::Corrupt(format!("user {jid}: {e}")))?;
    Ok(UserRow {
        id,
        jid,
        registration,
    })
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_group_sqlite_rolled_back_fails_the_store_for_good() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        store.commit().unwrap();
        store.kv_set(user.id, "k", b"v", 1 << 20).unwrap();
        let failed = store.failed();
        // A full disk: SQLite rolls the group back on its own. The commit
        // must not pretend the write is kept, nor a new group begin.
        store.inject_rollback();
        assert!(matches!(store.commit(), Err(StoreError::Failed(_))));
        assert!(matches!(
            store.kv_set(user.id, "k2", b"v", 1 << 20),
            Err(StoreError::Failed(_))
        ));
        assert!(matches!(store.commit(), Err(StoreError::Failed(_))));
        let reason = tokio::time::timeout(std::time::Duration::from_secs(5), failed)
            .await
            .expect("the failure is announced");
        assert!(reason.contains("rolled"), "{reason}");
    }

    #[test]
    fn users_are_kept_per_gateway_and_replaced_on_reregistration() {
        let store = Store::open_in_memory().unwrap();
        let a = store
            .upsert_user("echo.a", "u@x", &form(&[("username", "one")]))
            .unwrap();
        let b = store
            .upsert_user("echo.b", "u@x", &form(&[("username", "two")]))
            .unwrap();
        assert_ne!(a.id, b.id);
        let again = store
            .upsert_user("echo.a", "u@x", &form(&[("username", "three")]))
            .unwrap();
        assert_eq!(again.id, a.id);
        let stored = store.user("echo.a", "u@x").unwrap().unwrap();
        assert_eq!(stored.registration, form(&[("username", "three")]));
        assert_eq!(store.users("echo.b").unwrap(), vec![b]);
        assert_eq!(store.user("echo.a", "other@x").unwrap(), None);
    }

    #[test]
    fn deleting_a_user_deletes_what_they_own() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        let c = store.insert_contact(user.id, "Bob", "bob").unwrap();
        store.set_contact_name(c, Some("Bob B")).unwrap();
        store.set_contact_in_roster(c, true, false).unwrap();
        assert!(store.kv_set(user.id, "k", b"v", 100).unwrap());
        assert_eq!(
            store.contacts(user.id).unwrap(),
            vec![ContactRow {
                id: c,
                legacy_id: "Bob".into(),
                jid_username: "bob".into(),
                name: Some("Bob B".into()),
                in_roster: true,
                avatar_hash: None,
                avatar_unique_id: None,
                vcard: None,
                vcard_fetched: false,
                push_unconfirmed: false,
            }]
        );
        assert_eq!(store.kv_get(user.id, "k").unwrap(), Some(b"v".to_vec()));
        store.delete_user(user.id).unwrap();
        assert!(store.contacts(user.id).unwrap().is_empty());
        assert_eq!(store.kv_get(user.id, "k").unwrap(), None);
    }

    #[test]
    fn the_key_value_store_is_capped_per_user() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        assert!(store.kv_set(user.id, "a", &[0; 8], 20).unwrap());
        assert!(store.kv_set(user.id, "b", &[0; 9], 20).unwrap());
        assert!(
            !store.kv_set(user.id, "c", &[0; 1], 20).unwrap(),
            "21 bytes > 20"
        );
        assert!(
            store.kv_set(user.id, "a", &[0; 7], 20).unwrap(),
            "a rewrite counts its new size"
        );
        assert_eq!(store.kv_get(user.id, "c").unwrap(), None);
        let other = store.upsert_user("gw", "v@x", &[]).unwrap();
        assert!(
            store.kv_set(other.id, "c", &[0; 19], 20).unwrap(),
            "each user has their own"
        );
        store.kv_delete(user.id, "b").unwrap();
        assert!(
            store.kv_set(user.id, "c", &[0; 11], 20).unwrap(),
            "a deleted key gives its bytes back"
        );
    }

    #[test]
    fn the_running_total_is_the_stores_size() {
        let store = Store::open_in_memory().unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        let other = store.upsert_user("gw", "v@x", &[]).unwrap();
        for n in 0..50usize {
            let key = format!("k{}", n % 7);
            store
                .kv_set(user.id, &key, &vec![1; n * 3 % 40], 1 << 20)
                .unwrap();
            store.kv_set(other.id, "é", &vec![2; n], 1 << 20).unwrap();
            if n % 5 == 0 {
                store.kv_delete(user.id, &format!("k{}", n % 3)).unwrap();
            }
        }
        let db = store.db();
        for id in [user.id, other.id] {
            let (total, summed): (i64, i64) = db
                .conn
                .query_row(
                    "SELECT kv_bytes, (SELECT COALESCE(SUM(LENGTH(CAST(key AS BLOB)) + LENGTH(value)), 0)
                                       FROM kv WHERE user_id = ?1)
                     FROM users WHERE id = ?1",
                    params![id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .unwrap();
            assert_eq!(total, summed);
        }
    }

    /// What another connection (another process) reads of a user's kv key.
    fn read_from_outside(path: &Path, user_id: i64, key: &str) -> Option<Vec<u8>> {
        let conn = Connection::open(path).unwrap();
        conn.query_row(
            "SELECT value FROM kv WHERE user_id = ?1 AND key = ?2",
            params![user_id, key],
            |row| row.get(0),
        )
        .optional()
        .unwrap()
    }

    #[test]
    fn grouped_writes_are_committed_by_commit_and_by_the_committer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let store = Store::open(&path).unwrap();
        store.spawn_committer(Duration::from_secs(86_400), None);
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        store.kv_set(user.id, "a", b"1", 100).unwrap();
        store.commit().unwrap();
        assert_eq!(read_from_outside(&path, user.id, "a"), Some(b"1".to_vec()));
        // With no explicit commit, the committer thread makes it durable.
        store.kv_set(user.id, "b", b"2", 100).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while read_from_outside(&path, user.id, "b").is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the committer never committed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_failed_write_does_not_undo_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let store = Store::open(&path).unwrap();
        let user = store.upsert_user("gw", "u@x", &[]).unwrap();
        store.insert_contact(user.id, "Bob", "bob").unwrap();
        store.kv_set(user.id, "k", b"v", 100).unwrap();
        assert!(
            store.insert_contact(user.id, "Bob", "bob").is_err(),
            "a duplicate contact is refused"
        );
        store.kv_set(user.id, "k2", b"v2", 100).unwrap();
        store.commit().unwrap();
        assert_eq!(read_from_outside(&path, user.id, "k"), Some(b"v".to_vec()));
        assert_eq!(
            read_from_outside(&path, user.id, "k2"),
            Some(b"v2".to_vec())
        );
        assert_eq!(store.contacts(user.id).unwrap().len(), 1);
    }

    #[test]
    fn reopening_a_file_keeps_data_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let id = {
            let store = Store::open(&path).unwrap();
            let user = store.upsert_user("gw", "u@x", &[]).unwrap();
            store.kv_set(user.id, "n", b"1", 100).unwrap();
            user.id
        };
        let store = Store::open(&path).unwrap();
        assert_eq!(store.kv_get(id, "n").unwrap(), Some(b"1".to_vec()));
    }
}
