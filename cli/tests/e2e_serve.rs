//! `esb serve` as a process on the real engine: the manager behind the Lambda Invoke API, scaled,
//! killed with SIGKILL, restarted (adopting its containers), and stopped with SIGTERM (draining).

use esb_tests::{faults_project, text, ProjectContainers};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `esb serve` on a free loopback port; returns the child and its base URL.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_esb"))
        .args(["serve", "--http", "127.0.0.1:0", "--grace", "5"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start esb serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("esb serve printed its address").expect("read");
        if let Some(url) = line.split("Invoke API on ").nth(1) {
            break url.trim().to_string();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// The faults fixture under a project name of its own (`<prefix><pid>`), removed when dropped.
fn named_project(prefix: &str) -> (tempfile::TempDir, ProjectContainers) {
    let dir = faults_project();
    let project = format!("{prefix}{}", std::process::id());
    let generator = format!("app:\n  name: {project}\npaths:\n  sam_template: template.yaml\n");
    std::fs::write(dir.path().join("generator.yml"), generator).unwrap();
    (dir, ProjectContainers(project))
}

fn invoke(agent: &ureq::Agent, url: &str, body: &str) -> (u16, String) {
    let mut resp = agent.post(format!("{url}/2015-03-31/functions/Echo/invocations")).send(body).expect("HTTP");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

fn containers(project: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label=esb.project={project}"), "--filter", "label=esb.role=function"])
        .output()
        .unwrap();
    let mut ids: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    ids.sort();
    ids
}

#[test]
fn serve_scales_to_its_limit_survives_kill_9_by_adopting_and_drains_on_sigterm() {
    let (project_dir, cleanup) = named_project("serve");
    let project = cleanup.0.clone();
    // Only the echo function, limited to 5 concurrent containers.
    let template = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Echo:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: functions/echo\n      Runtime: provided.al2023\n      Handler: bootstrap\n      Timeout: 5\n      ReservedConcurrentExecutions: 5\n";
    std::fs::write(project_dir.path().join("template.yaml"), template).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();

    let (mut first, url) = serve(project_dir.path());
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let (agent, url) = (agent.clone(), url.clone());
            std::thread::spawn(move || invoke(&agent, &url, &format!("{{\"action\":\"sleep\",\"seconds\":0.3,\"n\":{i}}}")))
        })
        .collect();
    for (i, c) in calls.into_iter().enumerate() {
        let (status, body) = c.join().unwrap();
        assert_eq!(status, 200, "call {i}: {body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["echo"]["n"], i, "each caller gets its own answer");
        assert!(doc["traceId"].as_str().unwrap().starts_with("Root=1-"), "a trace id reaches the function");
    }
    let before = containers(&project);
    assert_eq!(before.len(), 5, "exactly ReservedConcurrentExecutions containers");

    // kill -9: no drain, containers keep running.
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(containers(&project), before, "containers outlive the killed manager");

    let started = Instant::now();
    let (mut second, url) = serve(project_dir.path());
    let adopt_and_listen = started.elapsed();
    let (status, body) = invoke(&agent, &url, "{\"after\":\"restart\"}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(containers(&project), before, "all five adopted: none started, none leaked");
    eprintln!("restart to listening with 5 containers adopted: {adopt_and_listen:?} (includes the no-op build)");

    // Unknown functions and bad payloads get Lambda's errors.
    let mut r = agent.post(format!("{url}/2015-03-31/functions/Nope/invocations")).send("{}").unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.body_mut().read_to_string().unwrap().contains("ResourceNotFoundException"));
    let (status, body) = invoke(&agent, &url, "{not json");
    assert_eq!(status, 400, "{body}");

    // SIGTERM: drain and remove.
    assert!(Command::new("kill").args(["-TERM", &second.id().to_string()]).status().unwrap().success());
    let exit = second.wait().unwrap();
    assert!(exit.success(), "graceful exit: {exit:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !containers(&project).is_empty() {
        assert!(Instant::now() < deadline, "containers left after SIGTERM: {:?}", containers(&project));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_runtime_that_cannot_start_is_reported_with_its_own_reason_through_the_invoke_api() {
    let (project_dir, _cleanup) = named_project("serveexit");
    // A `bootstrap` built for another architecture (an aarch64 ELF header): RIE answers a bare
    // 502 and logs why. (A dynamically linked one runs, on the glibc base: see e2e_compiled.)
    let code = project_dir.path().join("functions/foreign");
    std::fs::create_dir_all(&code).unwrap();
    let mut elf = vec![0u8; 64];
    elf[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    elf[16] = 2;
    elf[18] = 0xb7;
    std::fs::write(code.join("bootstrap"), &elf).unwrap();
    std::fs::set_permissions(code.join("bootstrap"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let template = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Dynamic:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: functions/foreign\n      Runtime: provided.al2023\n      Handler: bootstrap\n      Timeout: 5\n";
    std::fs::write(project_dir.path().join("template.yaml"), template).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();

    let (mut child, url) = serve(project_dir.path());
    let mut resp = agent.post(format!("{url}/2015-03-31/functions/Dynamic/invocations")).send("{}").expect("HTTP");
    let function_error = resp.headers().get("x-amz-function-error").map(|v| v.to_str().unwrap_or_default().to_string());
    let (status, body) = (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap_or_default());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((status, function_error.as_deref()), (200, Some("Unhandled")), "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["errorType"], "Runtime.InvalidEntrypoint", "{body}");
    let message = doc["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("exec format error") && message.contains(&format!("build it for {}", std::env::consts::ARCH)),
        "the reason and the fix: {message}"
    );
}

#[test]
fn a_function_killed_for_memory_is_reported_as_runtime_out_of_memory_and_replaced() {
    let (project_dir, _cleanup) = named_project("serveoom");
    let code = project_dir.path().join("functions/hog");
    std::fs::create_dir_all(&code).unwrap();
    // 400 MB of written bytes in a 128 MB container (esb gives it no swap, as Lambda does not).
    std::fs::write(code.join("app.py"), "def handler(event, context):\n    if event.get('hog'):\n        hog = 'x' * (400 << 20)\n        return len(hog)\n    return 'fine'\n")
        .unwrap();
    let template = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Hog:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: functions/hog\n      Runtime: python3.11\n      Handler: app.handler\n      MemorySize: 128\n      Timeout: 20\n";
    std::fs::write(project_dir.path().join("template.yaml"), template).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let call = |url: &str, body: &str| {
        let mut resp = agent.post(format!("{url}/2015-03-31/functions/Hog/invocations")).send(body).expect("HTTP");
        let function_error = resp.headers().get("x-amz-function-error").map(|v| v.to_str().unwrap_or_default().to_string());
        (resp.status().as_u16(), function_error, resp.body_mut().read_to_string().unwrap_or_default())
    };

    let (mut child, url) = serve(project_dir.path());
    let warm = call(&url, "{}");
    let killed = call(&url, r#"{"hog": true}"#);
    let after = call(&url, "{}");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((warm.0, warm.2.as_str()), (200, r#""fine""#), "{warm:?}");
    assert_eq!((killed.0, killed.1.as_deref()), (200, Some("Unhandled")), "{killed:?}");
    let doc: serde_json::Value = serde_json::from_str(&killed.2).unwrap();
    assert_eq!(doc["errorType"], "Runtime.OutOfMemory", "{doc}");
    assert!(doc["errorMessage"].as_str().unwrap_or_default().contains("signal: killed"), "{doc}");
    assert_eq!((after.0, after.1, after.2.as_str()), (200, None, r#""fine""#), "a new container serves the next request");
}

#[test]
fn two_directories_of_the_same_name_are_two_projects() {
    let root = tempfile::tempdir().unwrap();
    let template = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Echo:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: functions/echo\n      Runtime: provided.al2023\n      Handler: bootstrap\n      Timeout: 5\n";
    // Two projects without generator.yml, both in a directory named after this test.
    let name = format!("twins{}", std::process::id());
    let dirs: Vec<_> = ["one", "two"]
        .iter()
        .map(|parent| {
            let d = root.path().join(parent).join(&name);
            std::fs::create_dir_all(d.join("functions/echo")).unwrap();
            std::fs::copy(esb_tests::echo_bootstrap(), d.join("functions/echo/bootstrap")).unwrap();
            std::fs::write(d.join("template.yaml"), template).unwrap();
            d
        })
        .collect();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let (mut first, first_url) = serve(&dirs[0]);
    let (mut second, second_url) = serve(&dirs[1]);
    let recorded = std::fs::read_to_string(dirs[1].join(".esb/project-name")).expect("the second took another name");
    let second_name = recorded.trim().to_string();
    let _cleanup = (ProjectContainers(name.clone()), ProjectContainers(second_name.clone()));
    assert!(second_name.starts_with(&format!("{name}-")), "{second_name}");
    assert!(!dirs[0].join(".esb/project-name").exists(), "the first kept its directory's name");
    for url in [&first_url, &second_url] {
        let (status, body) = invoke(&agent, url, "{\"n\":1}");
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!((containers(&name).len(), containers(&second_name).len()), (1, 1), "each project has its own container");
    for child in [&mut first, &mut second] {
        assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
        assert!(child.wait().unwrap().success());
    }
    // Started again the other way round, each keeps its name.
    let (mut second, _) = serve(&dirs[1]);
    let (mut first, _) = serve(&dirs[0]);
    let labels = Command::new("docker")
        .args(["volume", "inspect", "-f", "{{index .Labels \"esb.dir\"}}", &format!("esb-{name}-identity")])
        .output()
        .unwrap();
    assert_eq!(text(&labels.stdout).trim(), std::fs::canonicalize(&dirs[0]).unwrap().display().to_string());
    assert_eq!(std::fs::read_to_string(dirs[1].join(".esb/project-name")).unwrap().trim(), second_name);
    let _ = (first.kill(), second.kill(), first.wait(), second.wait());
}
