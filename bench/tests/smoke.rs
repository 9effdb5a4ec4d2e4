/// The benchmark harness in smoke mode, so it cannot rot: it must run every scenario and print the
/// table. Its numbers are not asserted (a debug build on a shared machine measures nothing).
#[test]
fn the_benchmark_harness_runs_every_scenario() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_waitroom-bench"))
        .arg("--smoke")
        .output()
        .expect("waitroom-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for scenario in [
        "| ceiling",
        "| status",
        "| gate",
        "| join (empty line)",
        "| join (queued line)",
        "| join (challenge solved)",
        "| people, challenge off",
        "| people, challenge at cost 10",
        "| memory",
        "| propagation (3 replicas)",
        "| drain",
    ] {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(scenario))
            .unwrap_or_else(|| panic!("no {scenario} row in\n{stdout}"));
        let errors: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(errors[6], "0", "errors in {row}");
    }
}
