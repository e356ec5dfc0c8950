//! `esb up -d` / `esb status` / `esb down`: the split daemon in two containers (a gateway without
//! Docker access, a manager with it and nothing published), found by label.

use esb_tests::{named_example_project, run_esb, text};
use std::process::Command;

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn project_containers(project: &str) -> Vec<String> {
    let out =
        std::process::Command::new("docker").args(["ps", "-aq", "--filter", &format!("label=esb.project={project}")]).output().unwrap();
    text(&out.stdout).lines().map(str::to_string).collect()
}

fn inspect(container: &str, format: &str) -> String {
    text(&Command::new("docker").args(["inspect", "-f", format, container]).output().unwrap().stdout)
}

/// HelloFunction's containers (the one the test calls; a schedule may start others).
fn function_containers(project: &str) -> Vec<String> {
    let filter = format!("label=esb.project={project}");
    let out =
        Command::new("docker").args(["ps", "-q", "--filter", &filter, "--filter", "label=esb.function=HelloFunction"]).output().unwrap();
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn up_detached_serves_from_a_container_and_down_removes_everything() {
    let (dir, _cleanup, project) = named_example_project("daemon");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let admin_port = free_port();
    let admin = format!("127.0.0.1:{admin_port}");

    let out = run_esb(ESB, dir.path(), &["up", "-d", "--listen", &listen, "--admin", &admin]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("API Gateway on https://127.0.0.1:{port}")), "{stdout}");
    assert!(stdout.contains("admin password"), "first start shows the generated password once: {stdout}");

    // The gateway in the container answers over TLS, and starts the function on demand.
    let agent = esb_tests::gateway::agent(&dir.path().join(".esb/secrets/tls.crt"));
    let mut resp = agent.get(format!("https://127.0.0.1:{port}/hello?name=daemon")).call().expect("HTTPS to the daemon");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["message"], "Hello, daemon!");
    // The daemon's admin listener is published on the address asked for.
    let metrics = ureq::get(format!("http://{admin}/metrics")).call().expect("/metrics of the daemon").body_mut().read_to_string().unwrap();
    assert!(metrics.contains(r#"esb_invocations_total{function="HelloFunction",outcome="success"} 1"#), "{metrics}");

    let status = run_esb(ESB, dir.path(), &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status --json is JSON");
    assert_eq!(doc["daemon"]["running"], true, "{doc}");
    assert_eq!(doc["daemon"]["url"], format!("https://127.0.0.1:{port}"));
    assert_eq!(doc["functions"][0]["function"], "HelloFunction", "{doc}");

    let again = run_esb(ESB, dir.path(), &["up", "-d", "--listen", &listen]);
    assert!(again.status.success() && text(&again.stdout).contains("already running"), "{}", text(&again.stdout));
    assert!(!text(&again.stdout).contains("admin password"), "secrets are shown only when generated");

    // Privilege separation: the public gateway has no Docker socket, asked from inside it; the
    // manager has it and publishes nothing.
    let gateway = format!("esb-{project}-gateway");
    let manager = format!("esb-{project}-manager");
    let inside = Command::new("docker").args(["exec", &gateway, "/usr/local/bin/esb", "status"]).output().unwrap();
    let said = format!("{}{}", text(&inside.stdout), text(&inside.stderr));
    assert!(!inside.status.success() && said.contains("/var/run/docker.sock"), "the gateway cannot reach Docker: {said}");
    let mounts = |c: &str| inspect(c, "{{range .Mounts}}{{.Source}} {{end}}");
    assert!(!mounts(&gateway).contains("docker.sock") && mounts(&manager).contains("docker.sock"));
    let published = inspect(&manager, "{{json .HostConfig.PortBindings}}");
    assert!(matches!(published.trim(), "null" | "{}"), "the manager publishes no port: {published}");

    // kill -9 of the gateway container: the warm function container stays, and `up -d` brings the
    // gateway back alone, which reuses it.
    let warm = function_containers(&project);
    assert_eq!(warm.len(), 1);
    assert!(Command::new("docker").args(["kill", &gateway]).status().unwrap().success());
    let back = run_esb(ESB, dir.path(), &["up", "-d", "--listen", &listen, "--admin", &admin]);
    assert!(back.status.success(), "{}{}", text(&back.stdout), text(&back.stderr));
    let resp = agent.get(format!("https://127.0.0.1:{port}/hello?name=again")).call().expect("HTTPS to the restarted gateway");
    assert_eq!(resp.status(), 200);
    assert_eq!(function_containers(&project), warm, "the warm container was reused, not replaced");

    let down = run_esb(ESB, dir.path(), &["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(text(&down.stdout).contains("2 daemon containers stopped"), "{}", text(&down.stdout));
    assert!(project_containers(&project).is_empty(), "down leaves no container of the project");

    // A port another process holds: refused before anything starts, nothing left behind.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let refused = run_esb(ESB, dir.path(), &["up", "-d", "--listen", &taken_addr]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    assert!(text(&refused.stderr).contains(&format!("cannot listen on {taken_addr}")), "{}", text(&refused.stderr));
    assert!(
        project_containers(&project).iter().all(|c| inspect(c, "{{index .Config.Labels \"esb.role\"}}").trim() != "daemon"),
        "no daemon container is left"
    );
    drop(taken);
}
