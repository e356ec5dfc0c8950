//! Hot reload against the real engine: with `esb serve --watch`, a saved code change is served by
//! the next requests (live code, without an image build), a function and route added to the template answer, a broken template is
//! reported while the previous version keeps serving, and fixing it recovers. The added function's
//! schedule fires after the reload and stops when it is removed again. Python with requirements and
//! Node.js reload code live too.

use esb_tests::gateway::Served;
use esb_tests::{named_example_project, text};
use std::path::Path;
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn edit(path: &Path, from: &str, to: &str) {
    let s = std::fs::read_to_string(path).unwrap();
    assert!(s.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, s.replacen(from, to, 1)).unwrap();
}

/// Polls `f` until it holds; returns how long that took, or panics after `limit` with `what`.
fn within(limit: Duration, what: &str, s: &Served, mut f: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if f() {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not happen within {limit:?}\nstdout: {:?}\nlog: {}", s.output(), s.log().join("\n"));
}

const NEW_FUNCTION: &str = "  NewFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/hello/
      Handler: app.handler
      Runtime: python3.12
      Events:
        New:
          Type: Api
          Properties:
            Path: /new
            Method: get
        Every:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)

  ItemsFunction:";

fn new_schedule_fires(s: &Served) -> usize {
    s.log().iter().filter(|l| l.contains("schedule fired") && l.contains("NewFunction")).count()
}

#[test]
fn saved_changes_are_served_and_a_broken_template_keeps_the_previous_version() {
    let (dir, _cleanup, _project) = named_example_project("watch");
    // The schedules' clock runs 60 times faster: a minute rate fires every second.
    let s = Served::start(ESB, dir.path(), &["--watch", "--schedule-speed", "60"]);
    assert_eq!(s.get("/hello").json()["stage"], "dev");
    let limit = Duration::from_secs(90);

    // Code: the next requests get the new return value.
    edit(&dir.path().join("functions/hello/app.py"), r#""stage": os.environ.get("STAGE"),"#, r#""stage": "edited","#);
    let took = within(limit, "the edited code answering", &s, || s.get("/hello").json()["stage"] == "edited");
    eprintln!("save to new code: {:.1} s", took.as_secs_f64());
    // Live code: the code directory is mounted, so no image is built for a code-only change.
    assert!(s.output().iter().any(|l| l.contains("new code for HelloFunction (live, no image build)")), "{:?}", s.output());

    // Template: a new function and route answer.
    let template = dir.path().join("template.yaml");
    let good = std::fs::read_to_string(&template).unwrap();
    edit(&template, "  ItemsFunction:", NEW_FUNCTION);
    let took = within(limit, "the new route answering", &s, || s.get("/new").status == 200);
    eprintln!("template edit to new route: {:.1} s", took.as_secs_f64());
    assert!(s.output().iter().any(|l| l.contains("1 added (NewFunction)")), "{:?}", s.output());
    // Its schedule came with it.
    within(limit, "the new function's schedule firing", &s, || new_schedule_fires(&s) >= 1);

    // Broken: reported, and the previous version (with /new) keeps serving.
    std::fs::write(&template, good.replace("Resources:", "Resources:\n  Broken: !GetAtt [Nope\n")).unwrap();
    within(limit, "the failed reload being reported", &s, || s.output().iter().any(|l| l.contains("still serving the previous version")));
    let log = s.log().join("\n");
    assert!(log.contains("template.yaml"), "the error names the file: {log}");
    assert_eq!(s.get("/new").status, 200, "the previous routes keep answering");
    assert_eq!(s.get("/hello").json()["stage"], "edited");

    // Fixed (back to the original template): it recovers; the added function is gone again.
    std::fs::write(&template, &good).unwrap();
    within(limit, "the route removed again", &s, || s.get("/new").status == 403);
    assert!(s.output().iter().any(|l| l.contains("1 removed (NewFunction)")), "{:?}", s.output());
    assert_eq!(s.get("/hello").status, 200);
    // And its schedule went with it.
    std::thread::sleep(Duration::from_secs(1));
    let fired = new_schedule_fires(&s);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(new_schedule_fires(&s), fired, "a removed function's schedule does not fire");
    assert!(s.stop());
    let left = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=esb.project={_project}"), "--filter", "label=esb.role=function"])
        .output()
        .unwrap();
    assert_eq!(text(&left.stdout).trim(), "", "no function containers left behind");
}

#[test]
fn a_python_function_with_requirements_reloads_code_live_and_keeps_its_packages() {
    let (dir, _cleanup, _project) = named_example_project("watchreq");
    let hello = dir.path().join("functions/hello");
    std::fs::write(hello.join("requirements.txt"), "six==1.16.0\n").unwrap();
    edit(&hello.join("app.py"), "import os\n", "import os\n\nimport six\n");
    edit(&hello.join("app.py"), r#""stage": os.environ.get("STAGE"),"#, r#""stage": os.environ.get("STAGE"), "six": six.__version__,"#);
    let s = Served::start(ESB, dir.path(), &["--watch"]);
    assert_eq!(s.get("/hello").json()["six"], "1.16.0", "the package is installed in the image");
    edit(&hello.join("app.py"), r#""stage": os.environ.get("STAGE"),"#, r#""stage": "edited","#);
    let took = within(Duration::from_secs(60), "the edited code answering", &s, || s.get("/hello").json()["stage"] == "edited");
    eprintln!("save to new code with requirements.txt: {:.1} s", took.as_secs_f64());
    assert_eq!(s.get("/hello").json()["six"], "1.16.0", "the image's packages are still there under the live code");
    // Issue 20: this rebuilt the image (and its dependencies) on every save.
    assert!(s.output().iter().any(|l| l.contains("new code for HelloFunction (live, no image build)")), "{:?}", s.output());
    assert!(s.stop());
}

#[test]
fn a_node_function_reloads_code_live_within_the_python_bound() {
    // The runtimes fixture's Node.js 24 ES module, alone in a project.
    let dir = tempfile::tempdir().unwrap();
    esb_tests::copy_tree(&esb_tests::fixtures().join("runtimes/node"), &dir.path().join("node"));
    let name = format!("watchnode{}", std::process::id());
    let _cleanup = esb_tests::ProjectContainers(name.clone());
    std::fs::write(dir.path().join("generator.yml"), format!("app:\n  name: {name}\npaths:\n  sam_template: template.yaml\n")).unwrap();
    std::fs::write(
        dir.path().join("template.yaml"),
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  NodeEsm:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: node/\n      Handler: src/app.handler\n      Runtime: nodejs24.x\n      Events:\n        Api: {Type: HttpApi, Properties: {Path: /node, Method: post}}\n",
    )
    .unwrap();
    let s = Served::start(ESB, dir.path(), &["--watch"]);
    let call = |s: &Served| s.request("POST", "/node", &[("content-type", "application/json")], b"{}").json();
    assert!(call(&s)["version"].as_str().unwrap().starts_with("v24."));
    edit(&dir.path().join("node/src/app.js"), "version: process.version,", "version: process.version, edited: true,");
    let took = within(Duration::from_secs(60), "the edited Node.js code answering", &s, || call(&s)["edited"] == true);
    eprintln!("save to new code, Node.js: {:.1} s", took.as_secs_f64());
    assert!(s.output().iter().any(|l| l.contains("new code for NodeEsm (live, no image build)")), "{:?}", s.output());
    assert!(s.stop());
}
