//! Schedule events (issue 11), against the real engine and RIE: the example project's
//! TickFunction has `Schedule: rate(1 minute)` with an `Input`; with the schedules' clock 60 times
//! faster it fires about every second, and its log shows the event it got.

use esb_tests::gateway::Served;
use esb_tests::{run_esb, text};
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

#[test]
fn a_minute_rate_schedule_fires_on_a_fast_clock_with_its_input() {
    let dir = esb_tests::example_project();
    let s = Served::start(ESB, dir.path(), &["--schedule-speed", "60"]);
    assert!(s.startup.iter().any(|l| l.contains("schedules (clock x60): TickFunction.EveryMinute rate(1 minute)")), "{:?}", s.startup);
    let started = Instant::now();
    let mut seen = 0;
    while started.elapsed() < Duration::from_secs(60) {
        let logs = text(&run_esb(ESB, dir.path(), &["logs", "TickFunction"]).stdout);
        seen = logs.matches(r#"tick event: {"source": "schedule"}"#).count();
        if seen >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("TickFunction fired {seen} times in {:?} (clock x60)", started.elapsed());
    assert!(seen >= 2, "the schedule fired repeatedly with its Input");
    // The function really ran: its heartbeat item is in DynamoDB.
    let item = s.get("/items/heartbeat");
    assert_eq!(item.status, 200, "{}", item.text());
    assert_eq!(item.json()["kind"], "tick");
    assert!(s.stop());
}
