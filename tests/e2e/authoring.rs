//! The plugin author's tools in the `gatehouse` binary: `plugin check`
//! accepts the three echo builds and refuses what the host could not run,
//! each with a message that says why; `plugin new` writes skeletons that
//! build with their language's toolchain and pass `plugin check`.

use std::path::Path;
use std::process::Command;

use gatehouse_tests::process::{gatehouse_binary, python};
use gatehouse_tests::{plugin, workspace};

/// Runs `gatehouse plugin check FILE`: (exit ok, stdout + stderr).
fn check(file: &Path) -> (bool, String) {
    let output = Command::new(gatehouse_binary())
        .args(["plugin", "check"])
        .arg(file)
        .output()
        .expect("run gatehouse");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn check_accepts_the_three_echo_builds() {
    for name in ["echo", "echo-js", "echo-py"] {
        let (ok, report) = check(&plugin(name));
        assert!(ok, "{name}: {report}");
        assert!(
            report.contains("contract: gatehouse:gateway@0.3.1"),
            "{report}"
        );
        assert!(
            report
                .contains("gatehouse:gateway@0.3.1 (types, roster, groups, session): the contract"),
            "{report}"
        );
        assert!(
            report.contains(
                "network: Echo network (type echo), registration fields: username, contacts"
            ),
            "{report}"
        );
        assert!(report.trim_end().ends_with("ok"), "{report}");
    }
}

#[test]
fn check_refuses_what_the_host_cannot_run_and_says_why() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let echo = std::fs::read(plugin("echo")).expect("echo.wasm");
    let component = |wat: &str| wat::parse_str(wat).expect("valid WAT");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "core.wasm",
            component("(module (func (export \"run\")))"),
            "core WebAssembly module, not a component",
        ),
        (
            "other-world.wasm",
            component(
                "(component
                   (import \"wasi:cli/environment@0.2.0\" (instance))
                   (instance $run)
                   (export \"wasi:cli/run@0.2.0\" (instance $run)))",
            ),
            "exports no gatehouse:gateway/plugin interface: this component was built for another world (it exports: wasi:cli/run@0.2.0)",
        ),
        (
            "foreign-capability.wasm",
            component(
                "(component
                   (import \"wasi:keyvalue/store@0.2.0-draft\" (instance))
                   (instance $plugin)
                   (export \"gatehouse:gateway/plugin@0.3.0\" (instance $plugin)))",
            ),
            "imports wasi:keyvalue/store@0.2.0-draft, which is not part of the contract",
        ),
        (
            "next-contract.wasm",
            component(
                "(component
                   (import \"gatehouse:gateway/session@0.4.0\" (instance))
                   (instance $plugin)
                   (export \"gatehouse:gateway/plugin@0.4.0\" (instance $plugin)))",
            ),
            "gatehouse:gateway/plugin@0.4.0 is contract version 0.4.0, which this host (0.3.1) does not speak",
        ),
        (
            "truncated.wasm",
            echo[..echo.len() / 2].to_vec(),
            "not a valid component (truncated or corrupted?)",
        ),
        ("empty.wasm", Vec::new(), "not a WebAssembly component"),
    ];
    for (file, bytes, expected) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, bytes).expect("write the test file");
        let (ok, report) = check(&path);
        assert!(!ok, "{file} accepted:\n{report}");
        assert!(
            report.contains(expected),
            "{file}: {expected:?} not in:\n{report}"
        );
        assert!(
            report.contains("is not a plugin this host can run"),
            "{file}: no verdict:\n{report}"
        );
    }
}

/// `bytes` with every occurrence of `from` replaced by `to`, of the same
/// length (so no size field of the binary changes).
fn rewrite(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut found = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
            found += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    assert!(found > 0, "{} not found", String::from_utf8_lossy(from));
    out
}

/// The version policy, on the Rust echo build renamed as if it had been
/// built against other versions of the contract: a later 0.2.x loads and
/// runs (wasmtime links semver-compatible names), 0.4.0 is refused, a 0.1
/// plugin is refused with what 0.2 changed, and a 0.2.x plugin that uses an
/// import this host lacks is refused naming it.
#[test]
fn check_follows_the_version_policy() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let echo = std::fs::read(plugin("echo")).expect("echo.wasm");
    let next_patch = rewrite(
        &echo,
        "gatehouse:gateway/types@0.3.1",
        "gatehouse:gateway/types@0.3.7",
    );
    let next_patch = rewrite(
        &next_patch,
        "gatehouse:gateway/roster@0.3.1",
        "gatehouse:gateway/roster@0.3.7",
    );
    let next_patch = rewrite(
        &next_patch,
        "gatehouse:gateway/groups@0.3.1",
        "gatehouse:gateway/groups@0.3.7",
    );
    let next_patch = rewrite(
        &next_patch,
        "gatehouse:gateway/session@0.3.1",
        "gatehouse:gateway/session@0.3.7",
    );
    let next_patch = rewrite(
        &next_patch,
        "gatehouse:gateway/plugin@0.3.1",
        "gatehouse:gateway/plugin@0.3.7",
    );
    let path = dir.path().join("next-patch.wasm");
    std::fs::write(&path, &next_patch).expect("write");
    let (ok, report) = check(&path);
    assert!(ok, "{report}");
    assert!(
        report.contains("contract: gatehouse:gateway@0.3.7 (this host: 0.3.1)"),
        "{report}"
    );
    assert!(report.contains("network: Echo network"), "{report}");

    let next_minor = rewrite(
        &echo,
        "gatehouse:gateway/plugin@0.3.1",
        "gatehouse:gateway/plugin@0.4.0",
    );
    let path = dir.path().join("next-minor.wasm");
    std::fs::write(&path, &next_minor).expect("write");
    let (ok, report) = check(&path);
    assert!(!ok, "{report}");
    assert!(
        report.contains("is contract version 0.4.0, which this host (0.3.1) does not speak"),
        "{report}"
    );

    // Built against 0.1: refused, with what the author must change.
    let mut previous_minor = echo.clone();
    for iface in ["types", "roster", "groups", "session", "plugin"] {
        previous_minor = rewrite(
            &previous_minor,
            &format!("gatehouse:gateway/{iface}@0.3.1"),
            &format!("gatehouse:gateway/{iface}@0.1.0"),
        );
    }
    let path = dir.path().join("previous-minor.wasm");
    std::fs::write(&path, &previous_minor).expect("write");
    let (ok, report) = check(&path);
    assert!(!ok, "{report}");
    assert!(
        report.contains("is contract version 0.1.0, which this host (0.3.1) does not speak"),
        "{report}"
    );
    assert!(
        report.contains(
            "0.2 changed: every export that took `borrow<contact>` takes an owned `contact`"
        ),
        "{report}"
    );

    // Built against 0.2: refused, with the groups' exports to add.
    let mut before_groups = echo.clone();
    for iface in ["types", "roster", "session", "plugin"] {
        before_groups = rewrite(
            &before_groups,
            &format!("gatehouse:gateway/{iface}@0.3.1"),
            &format!("gatehouse:gateway/{iface}@0.2.0"),
        );
    }
    let path = dir.path().join("before-groups.wasm");
    std::fs::write(&path, &before_groups).expect("write");
    let (ok, report) = check(&path);
    assert!(!ok, "{report}");
    assert!(
        report.contains("0.3 added groups: the plugin must also export `fill-bookmarks`"),
        "{report}"
    );

    // `set-timer` renamed `set-timex`: an import of a later 0.3.x that this
    // host does not have.
    let newer_import = rewrite(&next_patch, "set-timer", "set-timex");
    let path = dir.path().join("newer-import.wasm");
    std::fs::write(&path, &newer_import).expect("write");
    let (ok, report) = check(&path);
    assert!(!ok, "{report}");
    assert!(report.contains("the host cannot load it"), "{report}");
    assert!(report.contains("set-timex"), "{report}");
    assert!(report.contains("upgrade the host"), "{report}");
}

/// Runs a build command in `dir`, panicking with its output on failure.
fn build(dir: &Path, program: impl AsRef<std::ffi::OsStr>, args: &[&str], env: &[(&str, &Path)]) {
    let output = Command::new(program.as_ref())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", program.as_ref()));
    assert!(
        output.status.success(),
        "{:?} {args:?} failed:\n{}\n{}",
        program.as_ref(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `gatehouse plugin new NAME --lang LANG` in `root`.
fn new_skeleton(root: &Path, name: &str, lang: &str) -> std::path::PathBuf {
    build(
        root,
        gatehouse_binary(),
        &["plugin", "new", name, "--lang", lang],
        &[],
    );
    root.join(name)
}

fn assert_checks(wasm: &Path, network: &str) {
    let (ok, report) = check(wasm);
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!("network: {network} (type {network})")),
        "{report}"
    );
}

#[test]
fn a_rust_skeleton_builds_and_passes_check() {
    let root = tempfile::tempdir().expect("temporary folder");
    let dir = new_skeleton(root.path(), "rusty-net", "rust");
    // Its own target folder: the one running these tests is locked by cargo.
    let target = workspace().join("target/skeleton-target");
    build(
        &dir,
        "cargo",
        &["build", "--target", "wasm32-wasip2", "--release"],
        &[("CARGO_TARGET_DIR", &target)],
    );
    assert_checks(
        &target.join("wasm32-wasip2/release/rusty_net.wasm"),
        "rusty-net",
    );
}

#[test]
fn a_javascript_skeleton_builds_and_passes_check() {
    let root = tempfile::tempdir().expect("temporary folder");
    let dir = new_skeleton(root.path(), "js-net", "js");
    build(
        &dir,
        "npm",
        &[
            "install",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ],
        &[],
    );
    build(&dir, "npm", &["run", "--silent", "build"], &[]);
    assert_checks(&dir.join("js-net.wasm"), "js-net");
}

#[test]
fn a_python_skeleton_builds_and_passes_check() {
    let root = tempfile::tempdir().expect("temporary folder");
    let dir = new_skeleton(root.path(), "py-net", "python");
    // The venv scripts/install-deps made holds componentize-py (the
    // skeleton's requirements.txt names the same version).
    let componentize = python().with_file_name("componentize-py");
    build(
        &dir,
        componentize,
        &[
            "-d",
            "wit",
            "-w",
            "gateway-plugin",
            "componentize",
            "app",
            "-o",
            "py-net.wasm",
        ],
        &[],
    );
    assert_checks(&dir.join("py-net.wasm"), "py-net");
}

#[test]
fn plugin_new_refuses_a_bad_name_and_an_existing_folder() {
    let root = tempfile::tempdir().expect("temporary folder");
    let run = |name: &str| {
        Command::new(gatehouse_binary())
            .args(["plugin", "new", name])
            .current_dir(root.path())
            .output()
            .expect("run gatehouse")
    };
    let bad = run("Bad_Name");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a usable plugin name"));
    assert!(run("fine").status.success());
    let again = run("fine");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
