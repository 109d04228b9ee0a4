//! [`Error`]: what every handler returns and every SDK call fails with.

use std::fmt;

use crate::HostError;
use crate::http::HttpError;
use crate::task::Closed;

/// Why something failed: the error of every [`Plugin`](crate::Plugin)
/// handler and of every SDK call. `?` turns the host's refusals
/// ([`HostError`], what the raw imports return), [`HttpError`], [`Closed`],
/// `String` and `&str` into it, so a handler can mix them freely:
///
/// ```no_run
/// use gatehouse_guest::{Error, Roster, session};
///
/// fn greet(nick: &str) -> Result<(), Error> {
///     if nick.is_empty() {
///         return Err("a nick is needed".into());
///     }
///     session::kv_set("last-greeted", nick.as_bytes())?;
///     Roster::by_legacy_id(nick)?.send_text("hello")?;
///     Ok(())
/// }
/// ```
///
/// An export's error text (what the user is shown) is its [`Display`]:
/// a plugin's own reason as it is, a host's refusal as the host's
/// [`HostError`] displays itself (kind and reason, e.g.
/// `Error::LimitExceeded("…")`). [`Error::reason`] is the reason alone.
///
/// [`Display`]: fmt::Display
#[derive(Debug, Clone)]
pub enum Error {
    /// The host refused a call (an import's `error`).
    Host(HostError),
    /// The plugin's own reason, shown as it is.
    Plugin(String),
}

impl Error {
    /// An error with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Error::Plugin(reason.into())
    }

    /// The reason, without the kind of a host error.
    pub fn reason(&self) -> &str {
        match self {
            Error::Host(e) => e.reason(),
            Error::Plugin(m) => m,
        }
    }

    /// The host's refusal, if that is what this is (to tell `not-found`
    /// from `limit-exceeded`…).
    pub fn host(&self) -> Option<&HostError> {
        match self {
            Error::Host(e) => Some(e),
            Error::Plugin(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Host(e) => fmt::Display::fmt(e, f),
            Error::Plugin(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<HostError> for Error {
    fn from(e: HostError) -> Self {
        Error::Host(e)
    }
}

impl From<String> for Error {
    fn from(reason: String) -> Self {
        Error::Plugin(reason)
    }
}

impl From<&str> for Error {
    fn from(reason: &str) -> Self {
        Error::Plugin(reason.to_owned())
    }
}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        Error::Plugin(e.0)
    }
}

impl From<Closed> for Error {
    fn from(closed: Closed) -> Self {
        Error::Plugin(closed.to_string())
    }
}

/// An export's result as the WIT has it: the error as its text.
#[doc(hidden)]
pub fn wit_result<T>(result: Result<T, Error>) -> Result<T, String> {
    result.map_err(|e| e.to_string())
}
