//! Exact wire tests: the gateway against the in-process fake server, each
//! behaviour of `shared/WIRE.md` asserted stanza by stanza.

mod errors;
mod gateway_jid;
mod link;
mod messages;
mod registration;
mod roster;

/// The namespace of component stanzas.
pub const NS: &str = gatehouse_tests::fake_server::NS;
/// The test user.
pub const ROMEO: &str = "romeo@localhost";
