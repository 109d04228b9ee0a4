//! The demo: a private Prosody on loopback, the gateway with the echo
//! plugin, and a user to log in with. Run by `scripts/demo [PLUGIN]`, where
//! PLUGIN is a build of `target/plugins/`: `echo` (Rust, the default),
//! `echo-js` or `echo-py`; or `irc`, which also starts a local IRC server
//! (ngircd) and runs the IRC gateway against it.

use gatehouse_tests::irc::IrcServer;
use gatehouse_tests::process::GatewayProcess;
use gatehouse_tests::prosody::Prosody;
use gatehouse_tests::{GATEWAY, SECRET, free_port};

/// A port if it is free, else any free one.
fn port_or_free(wanted: u16) -> u16 {
    match std::net::TcpListener::bind(("127.0.0.1", wanted)) {
        Ok(_) => wanted,
        Err(_) => free_port(),
    }
}

const IRC_GATEWAY: &str = "irc.localhost";

fn main() {
    let plugin = std::env::args().nth(1).unwrap_or_else(|| "echo".to_owned());
    let c2s = port_or_free(5222);
    let component = port_or_free(5347);
    let (jid, irc) = if plugin == "irc" {
        (IRC_GATEWAY, Some(IrcServer::start()))
    } else {
        (GATEWAY, None)
    };
    let prosody = Prosody::start_on(c2s, component, &[(jid, SECRET)]);
    prosody.register_user("demo", "demo");
    let gateway = match &irc {
        Some(irc) => GatewayProcess::start_gateway(
            &prosody.component_address(),
            jid,
            "irc",
            &format!("allow = [\"127.0.0.1:{}\"]", irc.port),
        ),
        // The demo user is the gateway's admin: its client lists the
        // admin ad-hoc commands too.
        None => GatewayProcess::start_gateway(
            &prosody.component_address(),
            GATEWAY,
            &plugin,
            "admins = [\"demo@localhost\"]",
        ),
    };
    let login = format!(
        "\nGatehouse is running, with the {plugin} plugin.\n\n\
         Log in with any XMPP client:\n  \
           JID:      demo@localhost\n  \
           password: demo\n  \
           server:   127.0.0.1, port {c2s} (plain text, no TLS: allow an unencrypted connection)\n\n"
    );
    let usage = match &irc {
        Some(irc) => format!(
            "Then register with the gateway {jid} (service discovery, or \"add a transport\"):\n  \
               server: 127.0.0.1:{port}   nickname: any, e.g. demo   contacts: e.g. alice\n\
             Connect an IRC client to 127.0.0.1 port {port} (e.g. `irssi -c 127.0.0.1 -p {port} -n alice`),\n\
             and write to demo; on XMPP, write to alice@{jid}.\n\n",
            port = irc.port
        ),
        None => format!(
            "Then register with the gateway {jid} (service discovery, or \"add a transport\"):\n  \
               any user name; \"contacts\" is how many echo contacts you get (default 3).\n\
             Your roster fills with Contact 0, Contact 1…; message one and it answers with your text.\n\
             Commands to a contact: /nick NAME, /presence away [STATUS], /contact ID, /unfriend, /burst N.\n\
             Your bookmarks get Group 0 (g0@{jid}; \"groups\" sets how many): join it, write, and Contact 0\n\
             answers \"heard: …\"; in it, /join NICK, /kick NICK, /subject TEXT, /history N, /burst N.\n\
             Ad-hoc commands on {jid} (Gajim: \"Execute command\"): log in/out, list contacts, status…;\n\
             demo is the gateway's admin, so it also sees list users, kick, reload the plugin.\n\n\
             Or let the scripted client do it:\n  \
               target/venv/bin/python3 tests/e2e/client.py --server 127.0.0.1:{c2s} --gateway {jid} --user demo:demo:demo:3\n\n"
        ),
    };
    println!(
        "{login}{usage}Rebuild the plugin (scripts/build-plugins) and the running gateway reloads it.\n\
         Gateway log: {}\n\
         Press Ctrl-C to stop.",
        gateway.dir.path().join("gatehouse.log").display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    println!("stopping");
    drop(gateway);
    drop(prosody);
    drop(irc);
}
