//! A session's standing with the legacy network: logging in (and retrying
//! with capped backoff, or parking a login that keeps crashing the plugin),
//! filling the roster, logging out, and the gateway's presence that tells
//! the user where their session stands.

use std::time::Duration;

use jid::Jid;
use tokio::time::Instant;
use xmpp_parsers::presence::{Show, Type as PresenceType};

use super::Session;
use crate::context::ServerRoster;

/// After this many logins in a row that crash the plugin, the session is
/// parked instead of retried.
const PARK_AFTER: u32 = 5;

/// Login retries: the first after this, doubled each time up to the cap.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// The kinds of [`LoginState`], without their details: what metrics and
/// admin lists count sessions by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// [`LoginState::LoggedOut`].
    LoggedOut,
    /// [`LoginState::LoggingIn`].
    LoggingIn,
    /// [`LoginState::LoggedIn`].
    LoggedIn,
    /// [`LoginState::Failed`].
    Failed,
    /// [`LoginState::Parked`].
    Parked,
}

impl LoginKind {
    /// The kind's one-word name, as metrics and admin lists show it.
    pub fn name(self) -> &'static str {
        match self {
            LoginKind::LoggedOut => "logged-out",
            LoginKind::LoggingIn => "logging-in",
            LoginKind::LoggedIn => "logged-in",
            LoginKind::Failed => "failed",
            LoginKind::Parked => "parked",
        }
    }
}

/// Where a session stands with the legacy network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginState {
    /// Not logged in: before the first login, or after a log-out.
    LoggedOut,
    /// The plugin's `login` is running.
    LoggingIn,
    /// Logged in; the status the plugin gave.
    LoggedIn {
        /// The plugin's status text.
        status: String,
    },
    /// The last login failed; a retry is scheduled.
    Failed {
        /// The plugin's reason.
        reason: String,
    },
    /// The plugin crashed at every one of the last logins: no more
    /// automatic retries until the user asks (an available presence).
    Parked {
        /// Crashes in a row.
        crashes: u32,
    },
}

impl LoginState {
    /// The state's kind.
    pub fn kind(&self) -> LoginKind {
        match self {
            LoginState::LoggedOut => LoginKind::LoggedOut,
            LoginState::LoggingIn => LoginKind::LoggingIn,
            LoginState::LoggedIn { .. } => LoginKind::LoggedIn,
            LoginState::Failed { .. } => LoginKind::Failed,
            LoginState::Parked { .. } => LoginKind::Parked,
        }
    }
}

impl std::fmt::Display for LoginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginState::LoggedOut => f.write_str("logged out"),
            LoginState::LoggingIn => f.write_str("logging in"),
            LoginState::LoggedIn { status } if status.is_empty() => f.write_str("logged in"),
            LoginState::LoggedIn { status } => write!(f, "logged in: {status}"),
            LoginState::Failed { reason } => write!(f, "login failed: {reason}"),
            LoginState::Parked { crashes } => {
                write!(f, "parked after {crashes} plugin crashes in a row")
            }
        }
    }
}

impl Session {
    /// Changes the login state, and publishes it to the handle.
    pub(super) fn set_login(&mut self, login: LoginState) {
        crate::metrics::METRICS.session_state(
            self.ctx.jid.as_str(),
            Some(self.login.kind().name()),
            Some(login.kind().name()),
        );
        self.published.send_replace(login.clone());
        self.login = login;
    }

    pub(super) async fn log_in(&mut self) {
        let to: Jid = self.user.clone().into();
        self.set_login(LoginState::LoggingIn);
        self.send_status(to.clone());
        match self.call("login", async |i| i.login().await).await {
            Ok(Ok(status)) => {
                tracing::info!(gateway = %self.ctx.jid, user = %self.user, ?status, "logged in");
                self.failures = 0;
                self.login_crashes = 0;
                self.set_login(LoginState::LoggedIn { status });
                self.fill_roster().await;
                self.fill_bookmarks().await;
                self.check_unconfirmed_pushes();
                self.send_status(to);
            }
            Ok(Err(reason)) => self.login_failed(reason),
            Err(_) => {
                self.login_crashes += 1;
                if self.login_crashes >= PARK_AFTER {
                    self.park();
                } else {
                    self.login_failed("the plugin crashed".into());
                }
            }
        }
    }

    /// Stops retrying a login that crashes the plugin every time.
    pub(super) fn park(&mut self) {
        let crashes = self.login_crashes;
        tracing::error!(gateway = %self.ctx.jid, user = %self.user, crashes, "session parked");
        self.tell(&format!(
            "The gateway's plugin crashed at each of your last {crashes} logins, so your session \
             is parked: no more automatic retries. Go offline and online again (or register \
             again) to retry."
        ));
        self.set_login(LoginState::Parked { crashes });
        self.retry_at = None;
        self.send_status(self.user.clone().into());
    }

    pub(super) fn login_failed(&mut self, reason: String) {
        self.failures += 1;
        let delay = Duration::from_millis(self.ctx.config.login_retry_ms)
            .saturating_mul(1 << self.failures.min(16).saturating_sub(1))
            .min(MAX_RETRY);
        tracing::warn!(gateway = %self.ctx.jid, user = %self.user, ?reason, retry_in = ?delay, "login failed");
        let wait = match delay.as_millis() {
            ms if ms % 1000 != 0 => format!("{ms} ms"),
            _ => format!("{} s", delay.as_secs()),
        };
        self.tell(&format!("Could not log in: {reason}. Retrying in {wait}."));
        self.set_login(LoginState::Failed { reason });
        self.retry_at = Some(Instant::now() + delay);
        self.send_status(self.user.clone().into());
    }

    /// Pushes a kill may have lost (committed, never answered): asks the
    /// server for the user's roster, to push again only what it lacks.
    pub(super) fn check_unconfirmed_pushes(&mut self) {
        let Some(data) = self.data() else { return };
        let unconfirmed = data.roster.take_unconfirmed();
        if unconfirmed.is_empty() || !self.ctx.grants.can_push_roster(&self.user) {
            return;
        }
        tracing::info!(gateway = %self.ctx.jid, user = %self.user, contacts = unconfirmed.len(), "checking unconfirmed roster pushes");
        self.awaiting_roster = unconfirmed;
        let request = self.ctx.roster_request(&self.user);
        self.send(request);
    }

    pub(super) fn on_server_roster(&mut self, roster: ServerRoster) {
        let unconfirmed = std::mem::take(&mut self.awaiting_roster);
        let Some(data) = self.data() else { return };
        let pushed = data
            .roster
            .settle_unconfirmed(&unconfirmed, roster.as_ref());
        tracing::info!(gateway = %self.ctx.jid, user = %self.user, checked = unconfirmed.len(), pushed, "unconfirmed roster pushes settled");
    }

    pub(super) async fn fill_roster(&mut self) {
        let result = self
            .call("fill-roster", async |i| i.fill_roster().await)
            .await;
        if let Ok(Err(reason)) = result {
            self.tell(&format!("Could not fetch your contacts: {reason}"));
        }
    }

    pub(super) async fn fill_bookmarks(&mut self) {
        let result = self
            .call("fill-bookmarks", async |i| i.fill_bookmarks().await)
            .await;
        if let Ok(Err(reason)) = result {
            self.tell(&format!("Could not fetch your groups: {reason}"));
        }
    }

    pub(super) async fn log_out(&mut self) {
        if !matches!(self.login, LoginState::LoggedIn { .. }) {
            return;
        }
        // No instance: nothing runs that could log out.
        if self.instance.is_some() {
            let _ = self.call("logout", async |i| i.logout().await).await;
        }
        tracing::info!(gateway = %self.ctx.jid, user = %self.user, "logged out");
        self.set_login(LoginState::LoggedOut);
        self.retry_at = None;
        self.send_status(self.user.clone().into());
    }

    /// The gateway's presence as the session stands.
    pub(super) fn send_status(&mut self, to: Jid) {
        let presence = match &self.login {
            LoginState::LoggedIn { status } => self.ctx.status_to(to, None, status),
            LoginState::Failed { reason } => {
                self.ctx
                    .status_to(to, Some(Show::Dnd), &format!("Login failed: {reason}"))
            }
            LoginState::Parked { crashes } => self.ctx.status_to(
                to,
                Some(Show::Xa),
                &format!("Parked: the plugin crashed at {crashes} logins in a row"),
            ),
            LoginState::LoggingIn => self.ctx.status_to(to, Some(Show::Dnd), "Logging in…"),
            LoginState::LoggedOut => self.ctx.presence_to(to, PresenceType::Unavailable),
        };
        self.send(presence);
    }

    pub(super) async fn on_available(&mut self, resource: Jid) {
        self.resources.insert(resource.clone());
        match self.login {
            LoginState::LoggedIn { .. } => self.send_status(resource),
            LoginState::Failed { .. }
            | LoginState::LoggedOut
            | LoginState::LoggingIn
            | LoginState::Parked { .. } => {
                self.retry_at = None;
                self.log_in().await;
            }
        }
    }

    pub(super) async fn on_unavailable(&mut self, resource: Jid) {
        self.resources.remove(&resource);
        self.left_rooms(&resource);
        if self.resources.is_empty() && self.ctx.config.logout_on_unavailable {
            self.log_out().await;
        }
    }
}
