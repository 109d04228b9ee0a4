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
