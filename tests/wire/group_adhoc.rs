//! The ad-hoc commands about groups: "Leave a group" (its form lists the
//! user's groups; the plugin leaves on the network, then the bookmark goes
//! and the joined clients are told) and "List groups" after it.

use gatehouse_tests::{GATEWAY, Wire};
use minidom::Element;

use crate::NS;
use crate::groups::{CLIENT, PEP_PRIVILEGE, ROOM, codes, join, register};

const COMMANDS: &str = "http://jabber.org/protocol/commands";
const DATA: &str = "jabber:x:data";

async fn run(w: &mut Wire, id: &str, node: &str, rest: &str) -> Element {
    w.link
        .send(&format!(
            "<iq type='set' id='{id}' from='{CLIENT}' to='{GATEWAY}'>\
             <command xmlns='{COMMANDS}' node='{node}' {rest}</iq>"
        ))
        .await;
    w.link
        .recv_until("the command's answer", |e| e.attr("id") == Some(id))
        .await
}

fn command(answer: &Element) -> &Element {
    answer
        .get_child("command", COMMANDS)
        .unwrap_or_else(|| panic!("no command: {}", String::from(answer)))
}

fn note(answer: &Element) -> (Option<String>, String) {
    let note = command(answer).get_child("note", COMMANDS).expect("a note");
    (note.attr("type").map(str::to_owned), note.text())
}

#[tokio::test]
async fn leaving_a_group_by_ad_hoc_command() {
    let mut w = Wire::start(false).await;
    w.link.send(PEP_PRIVILEGE).await;
    register(&mut w).await;
    join(&mut w, "romeo").await;

    // The form: one list-single field, the user's groups by room JID.
    let form = run(&mut w, "l1", "leave-group", "action='execute'/>").await;
    assert_eq!(form.attr("type"), Some("result"), "{}", String::from(&form));
    assert_eq!(command(&form).attr("status"), Some("executing"));
    let session = command(&form)
        .attr("sessionid")
        .expect("a session")
        .to_owned();
    let field = command(&form)
        .get_child("x", DATA)
        .and_then(|x| x.children().find(|f| f.attr("var") == Some("group")))
        .unwrap_or_else(|| panic!("no group field: {}", String::from(&form)));
    assert_eq!(field.attr("type"), Some("list-single"));
    let options: Vec<(Option<&str>, String)> = field
        .children()
        .filter(|o| o.is("option", DATA))
        .map(|o| {
            let value = o.get_child("value", DATA).map(Element::text);
            (o.attr("label"), value.unwrap_or_default())
        })
        .collect();
    assert_eq!(
        options,
        [(Some("Group 0 (g0@echo.localhost)"), ROOM.to_owned())]
    );

    // A room that is not one of the user's groups: refused, nothing sent.
    let wrong = run(
        &mut w,
        "l0",
        "leave-group",
        &format!(
            "sessionid='{session}' action='complete'><x xmlns='{DATA}' type='submit'>\
             <field var='group'><value>nowhere@{GATEWAY}</value></field></x></command>"
        ),
    )
    .await;
    assert_eq!(command(&wrong).attr("status"), Some("completed"));
    assert_eq!(
        note(&wrong),
        (
            Some("error".into()),
            format!("You have no group nowhere@{GATEWAY}.")
        )
    );
    let form = run(&mut w, "l1b", "leave-group", "action='execute'/>").await;
    let session = command(&form)
        .attr("sessionid")
        .expect("a session")
        .to_owned();

    // Completed: the joined client is told it left (110, role none), the
    // bookmark is retracted as the user, and the command says so.
    let submit = format!(
        "sessionid='{session}' action='complete'><x xmlns='{DATA}' type='submit'>\
         <field var='group'><value>{ROOM}</value></field></x></command>"
    );
    w.link
        .send(&format!(
            "<iq type='set' id='l2' from='{CLIENT}' to='{GATEWAY}'>\
             <command xmlns='{COMMANDS}' node='leave-group' {submit}</iq>"
        ))
        .await;
    let mut seen = Vec::new();
    while !seen.iter().any(|e: &Element| e.attr("id") == Some("l2")) {
        seen.push(w.link.recv().await);
    }
    let gone = seen
        .iter()
        .find(|e| e.is("presence", NS))
        .unwrap_or_else(|| panic!("no self-presence: {seen:#?}"));
    assert_eq!(gone.attr("type"), Some("unavailable"));
    assert_eq!(gone.attr("from"), Some(format!("{ROOM}/romeo").as_str()));
    assert_eq!(gone.attr("to"), Some(CLIENT));
    assert_eq!(codes(gone), ["110"]);
    let retract = seen
        .iter()
        .filter_map(|e| e.get_child("privileged_iq", "urn:xmpp:privilege:2"))
        .filter_map(|p| p.get_child("iq", "jabber:client"))
        .filter_map(|iq| iq.get_child("pubsub", "http://jabber.org/protocol/pubsub"))
        .find_map(|p| p.get_child("retract", "http://jabber.org/protocol/pubsub"))
        .unwrap_or_else(|| panic!("no retraction: {seen:#?}"));
    assert_eq!(retract.attr("node"), Some("urn:xmpp:bookmarks:1"));
    assert_eq!(
        retract
            .get_child("item", "http://jabber.org/protocol/pubsub")
            .and_then(|i| i.attr("id")),
        Some(ROOM)
    );
    let done = seen.last().expect("the answer");
    assert_eq!(command(done).attr("status"), Some("completed"));
    assert_eq!(
        note(done),
        (Some("info".into()), format!("You left {ROOM}."))
    );

    // The group is no longer the user's: not listed, nothing to leave.
    let listed = run(&mut w, "l3", "groups", "action='execute'/>").await;
    let items = command(&listed)
        .get_child("x", DATA)
        .map(|x| x.children().filter(|c| c.is("item", DATA)).count());
    assert_eq!(items, Some(0), "{}", String::from(&listed));
    let nothing = run(&mut w, "l4", "leave-group", "action='execute'/>").await;
    assert_eq!(command(&nothing).attr("status"), Some("completed"));
    assert_eq!(
        note(&nothing),
        (Some("info".into()), "You have no groups.".into())
    );
    // Nothing waits for a form that never went out: more than the eight a
    // user may have waiting, and Unregister still offers its form.
    for n in 0..9 {
        let id = format!("n{n}");
        let again = run(&mut w, &id, "leave-group", "action='execute'/>").await;
        assert_eq!(command(&again).attr("status"), Some("completed"));
    }
    let unregister = run(&mut w, "u", "unregister", "action='execute'/>").await;
    assert_eq!(
        command(&unregister).attr("status"),
        Some("executing"),
        "{}",
        String::from(&unregister)
    );
}
