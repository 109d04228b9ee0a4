//! Exact wire tests: the gateway against the in-process fake server, each
//! behaviour of `shared/WIRE.md` asserted stanza by stanza.

mod authorization;
mod edits;
mod errors;
mod files;
mod gateway_jid;
mod group_adhoc;
mod group_commands;
mod group_messages;
mod group_profile;
mod groups;
mod irc;
mod limits;
mod link;
mod messages;
mod profile;
mod registration;
mod reload;
mod roster;
mod sandbox;
mod tasks;

/// The namespace of component stanzas.
pub const NS: &str = gatehouse_tests::fake_server::NS;
/// The test user.
pub const ROMEO: &str = "romeo@localhost";

/// Reads the receipt the echo network sends for the user's message
/// `client_id`, from `puppet`'s full JID, and then its echo.
pub async fn receipt_then_echo(
    link: &mut gatehouse_tests::FakeLink,
    puppet: &str,
    client_id: &str,
) -> minidom::Element {
    let receipt = link.recv().await;
    assert!(receipt.is("message", NS), "{}", String::from(&receipt));
    assert_eq!(
        receipt.attr("from"),
        Some(format!("{puppet}/gatehouse").as_str())
    );
    assert_eq!(
        receipt
            .get_child("received", "urn:xmpp:receipts")
            .and_then(|r| r.attr("id")),
        Some(client_id),
        "a receipt for {client_id}: {}",
        String::from(&receipt)
    );
    assert!(receipt.get_child("body", NS).is_none());
    link.recv().await
}
