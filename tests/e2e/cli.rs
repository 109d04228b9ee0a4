//! The `gatehouse` command line: bad configurations are refused with one
//! line naming the key, and a non-zero exit.

use std::process::Command;

use gatehouse_tests::process::gatehouse_binary;

fn run_with(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, config).expect("write the configuration");
    let output = Command::new(gatehouse_binary())
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("run gatehouse");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_configuration_is_one_line_naming_the_key() {
    let cases = [
        (
            "[xmpp]\nserver = \"127.0.0.1:5347\"\n[store]\npath = \"x.db\"\n[[gateway]]\njid = \"echo.localhost\"\nplugin = \"p.wasm\"\n",
            "gateway[0]: missing field `secret`",
        ),
        (
            "[xmpp]\nserver = \"nowhere\"\n[store]\npath = \"x.db\"\n[[gateway]]\njid = \"e.localhost\"\nsecret = \"s\"\nplugin = \"p.wasm\"\n",
            "xmpp.server: must be host:port",
        ),
        ("[xmpp\n", "line 1"),
    ];
    for (config, expected) in cases {
        let (ok, stderr) = run_with(config);
        assert!(!ok, "accepted:\n{config}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(expected),
            "{stderr:?} should name {expected:?}"
        );
    }
}

#[test]
fn a_missing_plugin_is_named() {
    let (ok, stderr) = run_with(
        "[xmpp]\nserver = \"127.0.0.1:9\"\n[store]\npath = \"x.db\"\n[[gateway]]\njid = \"e.localhost\"\nsecret = \"s\"\nplugin = \"missing.wasm\"\n",
    );
    assert!(!ok);
    assert!(stderr.contains("missing.wasm"), "{stderr}");
}

fn gatehouse(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(gatehouse_binary())
        .args(args)
        .output()
        .expect("run gatehouse");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const MINIMAL: &str = "[xmpp]\nserver = \"127.0.0.1:5347\"\n[store]\npath = \"gh.db\"\n\
    [[gateway]]\njid = \"echo.example.org\"\nsecret = \"s3cret-not-for-logs\"\nplugin = \"plugins/echo.wasm\"\n";

#[test]
fn version_names_the_release() {
    let (ok, stdout, _) = gatehouse(&["--version"]);
    assert!(ok);
    assert_eq!(
        stdout.trim(),
        format!("gatehouse {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn config_check_prints_every_key_with_its_default() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, MINIMAL).expect("write the configuration");
    let (ok, stdout, stderr) = gatehouse(&["config", "check", path.to_str().expect("utf-8")]);
    assert!(ok, "{stderr}");
    // What it prints is a configuration that loads to the same thing, but
    // for the component secrets, which it does not show.
    let printed =
        gatehouse::config::Config::parse(&stdout, dir.path()).expect("printed config loads");
    let mut loaded = gatehouse::config::Config::load(&path).expect("the file loads");
    for gateway in &mut loaded.gateways {
        assert!(
            !stdout.contains(&gateway.secret),
            "the secret is printed:\n{stdout}"
        );
        gateway.secret = "(set; not shown)".into();
    }
    assert_eq!(printed, loaded);
    let root = dir.path().display();
    for line in [
        "server = \"127.0.0.1:5347\"".to_owned(),
        format!("path = \"{root}/gh.db\""),
        format!("plugin = \"{root}/plugins/echo.wasm\""),
        "memory_mb = 64".into(),
        "call_timeout_ms = 5000".into(),
        "max_contacts = 50000".into(),
        "max_text_kb = 64".into(),
        "messages_per_second = 100".into(),
        "updates_per_second = 1000".into(),
        "backlog_kb = 16384".into(),
        "max_stanza_kb = 256".into(),
        "allow_users = [\"*@example.org\"]".into(),
        "admins = []".into(),
        "level = \"info\"".into(),
        "format = \"text\"".into(),
        "pool_instances = 0".into(),
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no {line:?} in:\n{stdout}"
        );
    }
    let (ok, _, stderr) = gatehouse(&["config", "check", "/nonexistent.toml"]);
    assert!(!ok);
    assert!(stderr.contains("/nonexistent.toml"), "{stderr}");
}

#[test]
fn users_list_and_remove_work_on_the_database() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, MINIMAL).expect("write the configuration");
    let store = gatehouse::store::Store::open(&dir.path().join("gh.db")).expect("database");
    let romeo = store
        .upsert_user("echo.example.org", "romeo@example.org", &[])
        .expect("a user");
    store
        .insert_contact(romeo.id, "c0", "c0")
        .expect("a contact");
    store
        .upsert_user("echo.example.org", "juliet@example.org", &[])
        .expect("a user");
    store.commit().expect("commit");
    drop(store);
    let config = path.to_str().expect("utf-8");

    let (ok, stdout, stderr) = gatehouse(&["users", "list", "--config", config]);
    assert!(ok, "{stderr}");
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["GATEWAY", "USER", "CONTACTS"]);
    assert!(
        rows.contains(&vec!["echo.example.org", "romeo@example.org", "1"]),
        "{stdout}"
    );
    assert!(
        rows.contains(&vec!["echo.example.org", "juliet@example.org", "0"]),
        "{stdout}"
    );

    let remove = |user: &str| {
        gatehouse(&[
            "users",
            "remove",
            "--config",
            config,
            "--gateway",
            "echo.example.org",
            user,
        ])
    };
    let (ok, stdout, stderr) = remove("romeo@example.org");
    assert!(ok, "{stderr}");
    assert!(stdout.contains("removed"), "{stdout}");
    let (ok, _, stderr) = remove("romeo@example.org");
    assert!(!ok, "removed twice");
    assert!(stderr.contains("not registered"), "{stderr}");
    let (_, stdout, _) = gatehouse(&["users", "list", "--config", config]);
    assert!(!stdout.contains("romeo"), "{stdout}");
    assert!(stdout.contains("juliet@example.org"), "{stdout}");
}
