//! The ad-hoc commands (XEP-0050) through the real chain: slixmpp ⇄ Prosody
//! ⇄ the gateway binary, run by a user, an administrator and a stranger.

use gatehouse_tests::process::{GatewayProcess, run_script};
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{GATEWAY, SECRET};
use serde_json::Value;

const COMMANDS: &str = "http://jabber.org/protocol/commands";

fn nodes(list: &Value) -> Vec<&str> {
    assert_eq!(list["node"], COMMANDS, "{list}");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            assert_eq!(item["jid"], GATEWAY, "{item}");
            assert!(item["name"].as_str().is_some_and(|n| !n.is_empty()));
            item["node"].as_str().expect("a node")
        })
        .collect()
}

/// A completed answer with a note of this type.
fn assert_completed(answer: &Value, node: &str, note_type: &str) {
    assert_eq!(answer["node"], node, "{answer}");
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_eq!(answer["from"], GATEWAY, "{answer}");
    assert_eq!(answer["note_type"], note_type, "{answer}");
    assert!(answer["actions"].is_null(), "{answer}");
}

/// An executing answer asking for one jid-single `user` (or other) field.
fn assert_asks(answer: &Value, node: &str, var: &str, type_: &str) {
    assert_eq!(answer["node"], node, "{answer}");
    assert_eq!(answer["status"], "executing", "{answer}");
    assert!(answer["sessionid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(answer["actions"]["execute"], "complete", "{answer}");
    assert_eq!(answer["actions"]["offered"][0], "complete", "{answer}");
    assert_eq!(answer["form"]["type"], "form", "{answer}");
    assert_eq!(answer["form"]["types"][var], type_, "{answer}");
}

fn assert_error(answer: &Value, condition: &str, type_: &str, specific: Option<&str>) {
    assert_eq!(answer["error"], condition, "{answer}");
    assert_eq!(answer["error_type"], type_, "{answer}");
    assert_eq!(answer["specific"].as_str(), specific, "{answer}");
}

#[test]
fn users_and_admins_run_every_command_and_strangers_are_refused() {
    let prosody = Prosody::start(&[(GATEWAY, SECRET)]);
    for user in ["romeo", "juliet", "nurse"] {
        prosody.register_user(user, "pass");
    }
    let gateway = GatewayProcess::start_gateway(
        &prosody.component_address(),
        GATEWAY,
        "echo",
        "admins = [\"romeo@localhost\"]",
    );
    let args = [
        "--server".to_owned(),
        format!("127.0.0.1:{}", prosody.c2s_port),
        "--gateway".to_owned(),
        GATEWAY.to_owned(),
    ];
    let out = run_script("adhoc.py", &args);
    let log = gateway.log();

    // Who is offered what.
    let user_commands = [
        "login",
        "logout",
        "sync-contacts",
        "contacts",
        "groups",
        "leave-group",
        "status",
        "unregister",
    ];
    let admin_commands = [
        "admin/users",
        "admin/session",
        "admin/kick",
        "admin/reload",
        "admin/plugin",
    ];
    let all: Vec<&str> = user_commands
        .iter()
        .chain(&admin_commands)
        .copied()
        .collect();
    assert_eq!(nodes(&out["list_admin"]), all, "{log}");
    assert_eq!(nodes(&out["list_user"]), user_commands);
    assert!(nodes(&out["list_stranger"]).is_empty());
    assert!(nodes(&out["list_after_unregister"]).is_empty());

    // Refusals.
    assert_error(
        &out["stranger_status"],
        "registration-required",
        "auth",
        None,
    );
    assert_error(&out["stranger_users"], "forbidden", "auth", None);
    assert_error(&out["user_users"], "forbidden", "auth", None);
    assert_error(&out["user_kick"], "forbidden", "auth", None);
    assert_error(&out["kick_stolen"], "forbidden", "auth", None);
    assert_error(&out["unknown"], "item-not-found", "cancel", None);

    // A user's own session.
    let status = &out["status"];
    assert_completed(status, "status", "info");
    assert_eq!(status["form"]["type"], "result");
    assert_eq!(status["form"]["fields"]["state"], "logged-in", "{status}");
    assert_eq!(status["form"]["fields"]["contacts"], "2");
    assert_eq!(status["form"]["fields"]["in_roster"], "2");
    assert_eq!(
        status["form"]["fields"]["clients"],
        "juliet@localhost/adhoc"
    );
    let contacts = &out["contacts"];
    assert_completed(contacts, "contacts", "info");
    assert_eq!(
        contacts["form"]["reported"],
        serde_json::json!(["jid", "name", "legacy_id", "in_roster"])
    );
    assert_eq!(contacts["form"]["items"][0]["jid"], format!("c0@{GATEWAY}"));
    assert_eq!(contacts["form"]["items"][1]["name"], "Contact 1");
    assert_eq!(contacts["form"]["items"][1]["in_roster"], "yes");
    assert_eq!(contacts["form"]["items"].as_array().map(Vec::len), Some(2));
    let groups = &out["groups"];
    assert_completed(groups, "groups", "info");
    assert_eq!(
        groups["form"]["reported"],
        serde_json::json!(["jid", "name", "legacy_id", "participants", "joined"])
    );
    assert_eq!(groups["form"]["items"][0]["jid"], format!("g0@{GATEWAY}"));
    assert_eq!(groups["form"]["items"][0]["name"], "Group 0");
    assert_eq!(groups["form"]["items"][0]["joined"], "0");
    assert_eq!(groups["form"]["items"].as_array().map(Vec::len), Some(1));
    // Leaving it: a form listing it, then done; then it is not listed.
    let form = &out["leave_form"];
    assert_eq!(form["status"], "executing", "{form}");
    assert_eq!(form["form"]["types"]["group"], "list-single");
    assert_eq!(
        form["form"]["options"]["group"],
        serde_json::json!([[format!("Group 0 (g0@{GATEWAY})"), format!("g0@{GATEWAY}")]])
    );
    assert_completed(&out["leave"], "leave-group", "info");
    assert_eq!(out["leave"]["note"], format!("You left g0@{GATEWAY}."));
    assert_eq!(
        out["groups_after_leave"]["form"]["items"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_completed(&out["leave_nothing"], "leave-group", "info");
    assert_eq!(out["leave_nothing"]["note"], "You have no groups.");

    assert_completed(&out["logout"], "logout", "info");
    assert_eq!(out["logout"]["note"], "Logged out.");
    assert_eq!(out["status_after_logout"], "logged-out");
    assert_completed(&out["login"], "login", "info");
    assert_eq!(out["status_after_login"], "logged-in");
    assert_completed(&out["login_again"], "login", "error");
    assert!(
        out["login_again"]["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("Already logged in"))
    );
    assert_completed(&out["sync"], "sync-contacts", "info");
    assert_eq!(
        out["sync"]["note"],
        "Contacts synced: 2 in your roster, 2 known."
    );

    // An administrator's view.
    let users = &out["users"];
    assert_completed(users, "admin/users", "info");
    assert_eq!(
        users["form"]["reported"],
        serde_json::json!(["jid", "state"])
    );
    let mut rows: Vec<(String, String)> = users["form"]["items"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["jid"].to_string(), r["state"].to_string()))
        .collect();
    rows.sort();
    assert_eq!(rows.len(), 2, "{users}");
    assert_eq!(rows[0].0, "\"juliet@localhost\"");
    assert!(rows[0].1.starts_with("\"logged in"), "{rows:?}");
    assert_eq!(rows[1].0, "\"romeo@localhost\"");

    assert_asks(&out["session_form"], "admin/session", "user", "jid-single");
    let session = &out["session"];
    assert_completed(session, "admin/session", "info");
    assert_eq!(session["sessionid"], out["session_form"]["sessionid"]);
    assert_eq!(session["form"]["fields"]["user"], "juliet@localhost");
    assert_eq!(session["form"]["fields"]["state"], "logged-in");
    assert_error(
        &out["session_replayed"],
        "bad-request",
        "modify",
        Some("bad-sessionid"),
    );
    assert_error(
        &out["session_unknown_user"],
        "item-not-found",
        "cancel",
        None,
    );
    assert_eq!(out["kick_canceled"]["status"], "canceled");
    assert_error(
        &out["kick_after_cancel"],
        "bad-request",
        "modify",
        Some("bad-sessionid"),
    );
    assert_completed(&out["kick"], "admin/kick", "info");
    assert_eq!(out["status_after_kick"], "logged-out", "{log}");
    assert!(
        out["kick_message"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m.as_str().is_some_and(|m| m.contains("An administrator"))),
        "{}",
        out["kick_message"]
    );

    let plugin = &out["plugin"];
    assert_completed(plugin, "admin/plugin", "info");
    let fields = &plugin["form"]["fields"];
    assert_eq!(fields["network"], "Echo network", "{plugin}");
    assert_eq!(fields["memory_mb"], "64");
    assert_eq!(fields["call_timeout_ms"], "5000");
    assert_eq!(fields["max_contacts"], "50000");
    assert!(
        fields["sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit())),
        "{plugin}"
    );
    let reload = &out["reload"];
    assert_completed(reload, "admin/reload", "info");
    assert!(
        reload["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("Reloaded: ") && n.contains("echo.wasm")),
        "{reload}"
    );
    gateway.wait_log("sessions moving to the reloaded plugin", 1);

    // Unregistering through the command.
    assert_asks(&out["unregister_form"], "unregister", "confirm", "boolean");
    assert_completed(&out["unregister_unconfirmed"], "unregister", "warn");
    assert_completed(&out["unregister"], "unregister", "info");
    let after = &out["users_after_unregister"]["form"]["items"];
    assert_eq!(after.as_array().map(Vec::len), Some(1), "{after}");
    assert_eq!(after[0]["jid"], "romeo@localhost");
}
