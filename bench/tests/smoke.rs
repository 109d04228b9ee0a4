//! The load bench at tiny sizes, so that it cannot rot: each scenario runs
//! against a real Prosody and the real gateway, and its JSON line holds
//! what it measured and the processes' costs.

use std::process::Command;

use serde_json::Value;

/// Runs a scenario; its JSON lines.
fn run_lines(args: &[&str]) -> Vec<Value> {
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
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
        })
        .collect()
}

/// Runs a scenario of one JSON line.
fn run(args: &[&str]) -> Value {
    let mut lines = run_lines(args);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.remove(0)
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
fn roster_fill_against_the_fake_server_costs_the_gateway_alone() {
    let report = run(&["roster-fill", "--contacts", "50", "--fake-server"]);
    assert_eq!(report["scenario"], "roster-fill");
    assert_eq!(report["server"], "fake");
    assert_eq!(report["contacts"], 50);
    assert!(
        report["gateway_cpu_s"].as_f64().is_some_and(|s| s > 0.0),
        "{report}"
    );
    assert!(report.get("prosody_cpu_s").is_none(), "{report}");
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

#[test]
fn latency_times_every_message() {
    let report = run(&[
        "latency",
        "--users",
        "2",
        "--rate",
        "100",
        "--messages",
        "40",
    ]);
    assert_eq!(report["scenario"], "latency");
    assert_eq!(report["messages"], 40);
    let p50 = report["p50_ms"].as_f64().unwrap_or(-1.0);
    let p99 = report["p99_ms"].as_f64().unwrap_or(-1.0);
    let max = report["max_ms"].as_f64().unwrap_or(-1.0);
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{report}");
    // 40 messages at 100/s take at least the 0.39 s of their ticks.
    assert!(
        report["seconds"].as_f64().is_some_and(|s| s >= 0.39),
        "{report}"
    );
    assert_costs(&report);
}

#[test]
fn sessions_restart_idle_and_reload() {
    let lines = run_lines(&["sessions", "--users", "3"]);
    let scenarios: Vec<&str> = lines
        .iter()
        .map(|l| l["scenario"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(scenarios, ["start-up", "idle-memory", "reload"]);
    for timed in [&lines[0], &lines[2]] {
        assert_eq!(timed["users"], 3);
        assert!(
            timed["seconds"].as_f64().is_some_and(|s| s > 0.0),
            "{timed}"
        );
        assert_costs(timed);
    }
    let idle = &lines[1];
    assert!(
        idle["gateway_rss_kib"].as_u64().is_some_and(|k| k > 1000),
        "{idle}"
    );
    assert!(idle["per_user_kib"].as_f64().is_some(), "{idle}");
}

/// The CI's one-minute soak: 10 users at 100 messages/s in all, a plugin
/// crash injected every 10 s (the 30-minute run is in BENCHMARKS.md).
#[test]
fn a_minute_of_soak_answers_everything_through_injected_crashes() {
    let report = run(&[
        "soak",
        "--users",
        "10",
        "--rate",
        "100",
        "--seconds",
        "60",
        "--crash-every",
        "10",
    ]);
    assert_eq!(report["scenario"], "soak");
    assert_eq!(report["crashes_injected"], 5, "at 10, 20… 50 s");
    let sent = report["sent"].as_u64().unwrap_or(0);
    assert!(sent >= 5000, "{report}");
    assert_eq!(report["answered"], sent, "{report}");
    assert_eq!(report["unanswered"], 0, "{report}");
    assert_eq!(report["answered_twice"], 0, "exactly once: {report}");
    assert_eq!(report["injected_error_replies"], 5, "{report}");
    assert_eq!(report["crash_notices"], 5, "{report}");
    assert_eq!(report["other_error_replies"], 0, "{report}");
    // Each crash logs the plugin's panic and the session's report of it.
    assert_eq!(report["gateway_error_log_lines"], 10, "{report}");
    assert_eq!(report["gateway_injected_error_log_lines"], 10, "{report}");
    assert!(report["rss_max_kib"].as_u64().is_some_and(|k| k > 1000));
    // Memory flat: the end within half the warm figure (plus 16 MiB for
    // allocator slack) of the start, over five crashes and restarts.
    let warm = report["rss_warm_kib"].as_u64().expect("rss_warm_kib");
    let end = report["rss_end_kib"].as_u64().expect("rss_end_kib");
    eprintln!("soak memory: warm {warm} KiB, end {end} KiB");
    assert!(end <= warm * 3 / 2 + 16 * 1024, "memory grew: {report}");
    assert_costs(&report);
}
