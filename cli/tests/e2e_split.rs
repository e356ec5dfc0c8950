//! The split daemon (issue 10): `esb serve --role manager` and `esb serve --role gateway` as two
//! processes on one project, against the real engine, RIE and the TLS gateway. Each side is killed
//! with kill -9 under load; the clients' answers, the containers and the recovery are asserted.
//! (The whole gateway suite also runs split: `ESB_TEST_ROLES=split`, see scripts/test.sh.)

use esb_tests::chaos::{function_containers, Load, Outcome};
use esb_tests::gateway::Served;
use esb_tests::named_example_project;
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn leaked(project: &str) -> usize {
    esb_tests::chaos::leftover_function_containers(project)
}

#[test]
fn kill_9_of_the_manager_under_load_is_bridged_by_warm_containers_and_recovers() {
    let (dir, _cleanup, project) = named_example_project("splitmgr");
    let mut s = Served::start_split(ESB, dir.path(), &["--manager-wait", "3", "--admin", "127.0.0.1:0"]);
    let admin = s.admin_addr();
    let readyz = || match ureq::get(format!("http://{admin}/readyz")).config().http_status_as_error(false).build().call() {
        Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    };
    // The admin listener binds next to the gateway's; give it the moments a loaded machine needs.
    let ready_within = |what: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let (status, why) = readyz();
            if status == 200 {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {status} {why}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    ready_within("ready while the manager answers");
    assert_eq!(s.get("/hello").status, 200);
    let base = Arc::new(Mutex::new(s.url.clone()));
    let load = Load::start(&s.cert, base, "/hello", 3);
    std::thread::sleep(Duration::from_secs(2));
    let warm: BTreeSet<String> = function_containers(&project, "HelloFunction").into_iter().collect();
    let fault_at = load.now();
    s.kill_manager();
    std::thread::sleep(Duration::from_secs(2));
    let (status, why) = readyz();
    assert!(status == 503 && why.contains("unreachable"), "not ready without the manager: {status} {why}");
    std::thread::sleep(Duration::from_secs(2));
    let restart_at = load.now();
    s.restart_manager();
    ready_within("ready again");
    std::thread::sleep(Duration::from_secs(3));
    let samples = load.finish();
    let o = Outcome::from_samples("kill -9 of the manager (split roles) under load", &samples, fault_at).report();
    let during: Vec<_> = samples.iter().filter(|x| x.at >= fault_at && x.at < restart_at).collect();
    let ok_during = during.iter().filter(|x| x.status == 200).count();
    eprintln!("while the manager was down: {ok_during} of {} requests answered 200", during.len());
    assert!(ok_during > 0, "warm containers keep serving while the manager is away: {:?}", o.statuses);
    assert!(o.statuses.keys().all(|k| *k == 200 || *k == 503), "clients see only 200 or a bounded-wait 503: {:?}", o.statuses);
    assert_eq!(o.malformed, 0, "{o:?}");
    // The new manager adopted the warm containers instead of starting over.
    let after: BTreeSet<String> = function_containers(&project, "HelloFunction").into_iter().collect();
    assert!(warm.intersection(&after).count() > 0, "warm containers were adopted: before {warm:?}, after {after:?}");
    let r = s.get("/hello");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        s.log().iter().any(|l| l.contains("claimed in-flight containers") || l.contains("recovered containers")),
        "the restart was seen"
    );
    assert!(s.stop());
    assert_eq!(leaked(&project), 0, "no container is left behind");
}

#[test]
fn kill_9_of_the_gateway_keeps_the_containers_warm_and_they_are_reused_after_it_returns() {
    let (dir, _cleanup, project) = named_example_project("splitgw");
    let mut s = Served::start_split(ESB, dir.path(), &[]);
    for _ in 0..3 {
        assert_eq!(s.get("/hello").status, 200);
    }
    let before = function_containers(&project, "HelloFunction");
    assert_eq!(before.len(), 1, "sequential requests share one warm container");
    s.kill_gateway();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(function_containers(&project, "HelloFunction"), before, "the containers outlive the gateway");
    s.restart_gateway();
    for _ in 0..3 {
        let r = s.get("/hello");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(function_containers(&project, "HelloFunction"), before, "the restarted gateway reuses the warm container: no cold start");
    assert!(s.stop());
    assert_eq!(leaked(&project), 0, "no container is left behind");
}

#[test]
fn the_roles_refuse_what_is_not_theirs_with_a_hint() {
    let dir = esb_tests::example_project();
    let out = esb_tests::run_esb(ESB, dir.path(), &["serve", "--role", "manager", "--listen", "127.0.0.1:0"]);
    let err = esb_tests::text(&out.stderr);
    assert!(!out.status.success() && err.contains("no public listener") && err.contains("--role gateway"), "{err}");
    let out = esb_tests::run_esb(ESB, dir.path(), &["serve", "--role", "gateway", "--watch"]);
    let err = esb_tests::text(&out.stderr);
    assert!(!out.status.success() && err.contains("--watch needs the gateway and the manager in one process"), "{err}");
    let long = format!("/tmp/{}/manager.sock", "d".repeat(110));
    let out = esb_tests::run_esb(ESB, dir.path(), &["serve", "--role", "manager", "--manager-socket", &long]);
    let err = esb_tests::text(&out.stderr);
    assert!(!out.status.success() && err.contains("unix sockets allow 107"), "{err}");
}

/// Waits until the gateway printed `line` on stdout (after a SIGHUP, say).
fn wait_output(s: &Served, line: &str) {
    for _ in 0..100 {
        if s.output().iter().any(|l| l.contains(line)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no `{line}` in {:?}", s.output());
}

#[test]
fn rotate_key_and_sighup_reload_keys_passwords_and_the_certificate_without_a_restart() {
    let dir = esb_tests::example_project();
    let mut s = Served::start_split(ESB, dir.path(), &[]);
    let whoami = |s: &Served, token: &str| s.request("GET", "/private/whoami", &[("authorization", token)], b"").status;
    let old = s.admin_token();
    assert_eq!(whoami(&s, &old), 200);

    let out = esb_tests::run_esb(ESB, dir.path(), &["auth", "rotate-key", "--grace", "3s", "--admin-password"]);
    assert!(out.status.success(), "{}", esb_tests::text(&out.stderr));
    let said = esb_tests::text(&out.stdout);
    assert!(said.contains("new token signing key") && said.contains("3 s"), "{said}");
    let secrets = dir.path().join(".esb/secrets");
    let password = std::fs::read_to_string(secrets.join("admin-password")).unwrap();
    assert!(said.contains(&password), "the new admin password is shown once: {said}");
    // A renewed certificate, too (here: regenerated, as if an operator had replaced it).
    let old_cert = dir.path().join("old-tls.crt");
    std::fs::copy(secrets.join("tls.crt"), &old_cert).unwrap();
    std::fs::remove_file(secrets.join("tls.crt")).unwrap();
    std::fs::remove_file(secrets.join("tls.key")).unwrap();

    assert!(Command::new("kill").args(["-HUP", &s.pid().unwrap().to_string()]).status().unwrap().success());
    wait_output(&s, "reloaded (certificate, token keys, users)");
    // New handshakes present the new certificate: a client trusting only the old one is refused.
    let stale = esb_tests::gateway::agent(&old_cert).get(format!("{}/hello", s.url)).call();
    assert!(stale.is_err(), "the old certificate is no longer presented");
    // Served reads the certificate at start; trust the new one from here on.
    s.refresh_certificate();
    let login = |p: &str| s.login_with(Some(&s.api_key), "admin", p);
    assert_eq!(login(&s.admin_password).status, 401, "the old admin password stopped working");
    let fresh = login(&password).json()["AuthenticationResult"]["IdToken"].as_str().unwrap().to_string();
    assert_eq!(whoami(&s, &fresh), 200, "tokens signed with the new key work");
    assert_eq!(whoami(&s, &old), 200, "tokens signed with the old key work during the grace period");
    assert_eq!(s.get("/.well-known/jwks.json").json()["keys"].as_array().unwrap().len(), 2);
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(whoami(&s, &old), 401, "after the grace period, old tokens are rejected");
    assert_eq!(whoami(&s, &fresh), 200);
    assert!(s.stop());
}

#[test]
fn a_daemon_config_file_sets_users_and_limits_and_a_bad_one_stops_the_start_with_its_line() {
    let dir = esb_tests::example_project();
    let bad = dir.path().join("esb-bad.yml");
    std::fs::write(&bad, "listen: 0.0.0.0:443\nlimits:\n  global_limit: 0\nusers:\n  - username: ops\n    password_hash: plain\n").unwrap();
    let out = esb_tests::run_esb(ESB, dir.path(), &["serve", "--config", bad.to_str().unwrap()]);
    let err = esb_tests::text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("esb-bad.yml:3: limits.global_limit: must be at least 1"), "{err}");
    assert!(err.contains("esb auth hash-password"), "every problem at once: {err}");

    let mut hash = Command::new(ESB)
        .args(["auth", "hash-password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    hash.stdin.take().unwrap().write_all(b"operator-password").unwrap();
    let hash = esb_tests::text(&hash.wait_with_output().unwrap().stdout).trim().to_string();
    let good = dir.path().join("esb.yml");
    std::fs::write(
        &good,
        format!("limits:\n  grace: 3\n  default_concurrency: 2\nusers:\n  - username: ops\n    password_hash: '{hash}'\n    groups: [operators]\n"),
    )
    .unwrap();
    let s = Served::start(ESB, dir.path(), &["--config", good.to_str().unwrap()]);
    let login = s.login_with(Some(&s.api_key), "ops", "operator-password");
    assert_eq!(login.status, 200, "a user from the config file logs in: {}", login.text());
    let token = login.json()["AuthenticationResult"]["IdToken"].as_str().unwrap().to_string();
    let me = s.request("GET", "/private/whoami", &[("authorization", &token)], b"").json();
    assert_eq!((me["username"].as_str(), me["claims"]["cognito:groups"][0].as_str()), (Some("ops"), Some("operators")), "{me}");
    assert!(s.stop());
}
