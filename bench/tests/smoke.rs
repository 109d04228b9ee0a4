//! The load bench at tiny sizes, so that it cannot rot: each scenario runs
//! against a real Prosody and the real gateway, and its JSON line holds
//! what it measured and the processes' costs.

use std::process::Command;

use serde_json::Value;

fn run(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_gatehouse-load"))
        .args(args)
        .output()
        .expect("run gatehouse-load");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "gatehouse-load {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn assert_costs(report: &Value) {
    for key in ["gateway_cpu_s", "prosody_cpu_s", "client_cpu_s"] {
        assert!(
            report[key].as_f64().is_some_and(|s| s >= 0.0),
            "{key}: {report}"
        );
    }
    for key in [
        "gateway_peak_rss_kib",
        "prosody_peak_rss_kib",
        "client_peak_rss_kib",
    ] {
        assert!(
            report[key].as_u64().is_some_and(|k| k > 1000),
            "{key}: {report}"
        );
    }
}

#[test]
fn roster_fill_reports_the_whole_roster() {
    let report = run(&["roster-fill", "--contacts", "30"]);
    assert_eq!(report["scenario"], "roster-fill");
    assert_eq!(report["contacts"], 30);
    assert!(report["seconds"].as_f64().is_some_and(|s| s > 0.0));
    assert_costs(&report);
}

#[test]
fn echo_counts_every_answer() {
    let report = run(&["echo", "--users", "3", "--messages", "150", "--window", "8"]);
    assert_eq!(report["scenario"], "echo");
    assert_eq!(report["users"], 3);
    assert_eq!(report["messages"], 150);
    assert!(
        report["messages_per_second"]
            .as_f64()
            .is_some_and(|r| r > 0.0)
    );
    assert_costs(&report);
}
