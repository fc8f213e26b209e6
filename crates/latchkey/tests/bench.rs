//! `latchkey bench` end to end on a tiny scale: the built binary starts `latchkey serve` as a
//! second process, pairs its virtual locks through the API and prints every row with a figure.
//! Nothing here judges speed (that is the bench's own job, in release builds); this checks that
//! each row measures something and that nothing fails.

use std::process::Command;

#[test]
fn every_row_measures_on_a_tiny_scale() {
    let out = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "bench",
            "--rows",
            "ready,members,unlock,guest-keys,propagation,locks,calendar",
            "--duration",
            "1",
            "--write-duration",
            "1",
            "--connections",
            "4",
            "--writers",
            "2",
            "--samples",
            "5",
            "--members",
            "3",
            "--propagation-locks",
            "2,4",
            "--locks",
            "6",
        ])
        .output()
        .expect("latchkey bench runs");
    let table = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {log}");
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| what"))
        .collect();
    for (what, count) in [
        ("`latchkey serve` to `/readyz` 200", 1),
        ("`GET /locks/{id}/members`, 3 members", 1),
        ("remote unlock", 1),
        ("`POST /locks/{id}/guest-keys`, SQLite", 1),
        ("a change of rights reaching its lock", 2),
        ("locks connected to one server process", 1),
        ("rental calendar, 500 reservations", 1),
        ("the same feed read again unchanged", 1),
    ] {
        assert_eq!(
            rows.iter().filter(|r| r.contains(what)).count(),
            count,
            "rows about {what}:\n{table}"
        );
    }
    for row in &rows {
        assert!(!row.contains("failed:"), "a row failed: {row}\n{log}");
        assert!(!row.contains("errors"), "a row counted errors: {row}\n{log}");
        assert!(!row.contains("n/a"), "a row has no figure: {row}");
    }
    let locks = rows
        .iter()
        .find(|r| r.contains("locks connected to one server process"))
        .expect("the locks row");
    assert!(
        locks.contains("6 paired and synced, 6 online, 0 pairings failed"),
        "{locks}"
    );
    assert!(locks.contains("VmRSS"), "{locks}");
    let again = rows
        .iter()
        .find(|r| r.contains("the same feed read again unchanged"))
        .expect("the calendar's second-read row");
    assert!(
        again.contains("keys written 0, activity-log entries 0, lock versions 0 (500 unchanged)"),
        "{again}"
    );
}
