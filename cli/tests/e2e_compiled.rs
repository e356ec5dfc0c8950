//! Functions esb compiles on the host as `sam build` does (issue 21), against the real engine
//! through the HTTPS gateway: a Rust package (`BuildMethod: rust-cargolambda`, the binary named
//! by `BuildProperties.Binary`) built by cargo into a static `bootstrap` on the provided base; a
//! Python function built by `make build-MakeFunction` into `ARTIFACTS_DIR`; a prebuilt `bootstrap`
//! dynamically linked against glibc (on the glibc base); a Go function built from source by
//! Debian's Go (`BuildMethod: go1.x`, the package in a subdirectory of its module, a vendored
//! dependency); and a Go function whose source does not build here, served from its `sam build`
//! artifacts in `.aws-sam/build`. Under `--watch`, a saved source change rebuilds that function
//! and the new build answers; a change that does not compile keeps the previous build serving.

use esb_tests::fixture_project;
use esb_tests::gateway::Served;
use std::path::Path;
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

const DYNAMIC: &str = "  GoFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: go1.x
    Properties:
      CodeUri: go/
      Handler: bootstrap
      Runtime: provided.al2023
      Events:
        Api: {Type: HttpApi, Properties: {Path: /go, Method: post}}
  DynamicFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: dynamic/
      Handler: bootstrap
      Runtime: provided.al2023
      Events:
        Api: {Type: HttpApi, Properties: {Path: /dynamic, Method: get}}
";

fn edit(path: &Path, from: &str, to: &str) {
    let s = std::fs::read_to_string(path).unwrap();
    assert!(s.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, s.replacen(from, to, 1)).unwrap();
}

/// Builds the Rust fixture's `handler` the usual way (dynamically linked, into `target`) and
/// puts it in place as `dynamic/bootstrap` (written beside it, then renamed over it).
fn dynamic_bootstrap(project: &Path, target: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = std::process::Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "handler", "--target-dir"])
        .arg(target)
        .current_dir(project.join("rust"))
        .env_remove("RUSTFLAGS")
        .status()
        .unwrap();
    assert!(built.success());
    std::fs::copy(target.join("release/handler"), project.join("dynamic/bootstrap.new")).unwrap();
    std::fs::rename(project.join("dynamic/bootstrap.new"), project.join("dynamic/bootstrap")).unwrap();
}

fn until(s: &Served, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let (started, limit) = (Instant::now(), Duration::from_secs(120));
    while started.elapsed() < limit {
        if f() {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what} did not happen within {limit:?}\nstdout: {:?}\nlog: {}", s.output(), s.log().join("\n"));
}

#[test]
fn rust_go_and_makefile_functions_are_built_by_esb_and_rebuilt_on_save() {
    let (dir, _cleanup, _) = fixture_project("compiled", "compiled");
    // The Rust function's binary, built the usual way (dynamically linked), is a prebuilt bootstrap.
    let target = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dynamic")).unwrap();
    dynamic_bootstrap(dir.path(), target.path());
    // `sam build` output of a Go function (esb's static echo function stands in for its binary).
    std::fs::create_dir_all(dir.path().join("go")).unwrap();
    std::fs::write(dir.path().join("go/main.go"), "package main\n").unwrap();
    std::fs::create_dir_all(dir.path().join(".aws-sam/build/GoFunction")).unwrap();
    std::fs::copy(esb_tests::echo_bootstrap(), dir.path().join(".aws-sam/build/GoFunction/bootstrap")).unwrap();
    let template = dir.path().join("template.yaml");
    let mut text = std::fs::read_to_string(&template).unwrap();
    text.push_str(DYNAMIC);
    std::fs::write(&template, text).unwrap();

    let s = Served::start(ESB, dir.path(), &["--watch"]);
    let r = s.get("/dynamic");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "compiled by esb"),
        "a dynamically linked bootstrap runs (CI once saw a 500 here on this first, cold request); esb's log:\n{}",
        s.log().join("\n")
    );
    assert!(s.log().iter().any(|l| l.contains("esb/base-provided-glibc")), "on the glibc base: {:?}", s.log());
    let r = s.request("POST", "/go", &[("content-type", "application/json")], br#"{"from": "sam build"}"#);
    assert_eq!(r.status, 200, "the sam build artifact answers: {}", r.text());
    assert!(r.text().contains("sam build"), "{}", r.text());
    assert!(
        s.log().iter().any(|l| l.contains("Go did not build GoFunction") && l.contains("running the `sam build` artifacts in")),
        "source Go cannot build falls back to the artifacts, said: {:?}",
        s.log()
    );
    let r = s.get("/gosrc");
    assert_eq!(r.status, 200, "the Go function esb built from source: {}", r.text());
    assert!(r.text().starts_with("built by go (go1.24") && r.text().ends_with("with a vendored module)"), "{}", r.text());
    let r = s.get("/rust");
    assert_eq!((r.status, r.text().as_str()), (200, "compiled by esb"), "the Rust function cargo built");
    let r = s.get("/make");
    assert_eq!((r.status, r.text().as_str()), (200, "built by make"), "the function make built into ARTIFACTS_DIR");
    assert!(!dir.path().join("make/app.py").exists(), "make ran in a scratch copy, CodeUri is untouched");

    let main = dir.path().join("rust/src/main.rs");
    edit(&main, "\"compiled by esb\"", "\"recompiled on save\"");
    let took = until(&s, "the rebuilt Rust function answering", || s.get("/rust").text() == "recompiled on save");
    eprintln!("Rust save to new build: {:.1} s", took.as_secs_f64());

    // The prebuilt, dynamically linked bootstrap replaced by a new build of it.
    dynamic_bootstrap(dir.path(), target.path());
    until(&s, "the replaced dynamic bootstrap answering", || s.get("/dynamic").text() == "recompiled on save");

    // A change that does not compile: reported, and the previous build keeps serving.
    edit(&main, "fn main() {", "fn main() { let broken: u8 = \"no\";");
    until(&s, "the build failure reported", || s.log().iter().any(|l| l.contains("RustFunction") && l.contains("cargo failed")));
    assert_eq!(s.get("/rust").text(), "recompiled on save", "the previous build serves after a failed one");

    edit(&dir.path().join("gosrc/cmd/hello/main.go"), "\"built by go\"", "\"rebuilt by go\"");
    let took = until(&s, "the rebuilt Go function answering", || s.get("/gosrc").text().starts_with("rebuilt by go"));
    eprintln!("Go save to new build: {:.1} s", took.as_secs_f64());

    edit(&dir.path().join("make/app.py.in"), "built by @BUILT_BY@", "rebuilt by @BUILT_BY@");
    until(&s, "the rebuilt makefile function answering", || s.get("/make").text() == "rebuilt by make");
    assert!(s.stop());
}

#[test]
fn a_go_module_that_cannot_be_downloaded_is_named_and_nothing_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("fn")).unwrap();
    std::fs::write(root.join("fn/go.mod"), "module example.com/fn\n\ngo 1.22\n\nrequire github.com/aws/aws-lambda-go v1.47.0\n").unwrap();
    std::fs::write(
        root.join("fn/go.sum"),
        "github.com/aws/aws-lambda-go v1.47.0 h1:0H8s0vumYx/YKs4sE7YM0ktwL2eWse+kfopsRI1sXVI=\n\
         github.com/aws/aws-lambda-go v1.47.0/go.mod h1:dpMpZgvWx5vuQJfBt0zqBha60q7Dd7RfgJv23DymV8A=\n",
    )
    .unwrap();
    std::fs::write(
        root.join("fn/main.go"),
        "package main\n\nimport \"github.com/aws/aws-lambda-go/lambda\"\n\nfunc main() { lambda.Start(func() (string, error) { return \"x\", nil }) }\n",
    )
    .unwrap();
    std::fs::write(
        root.join("template.yaml"),
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Hello:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: fn/, Handler: hello, Runtime: go1.x}\n",
    )
    .unwrap();
    let name = format!("gomod{}", std::process::id());
    std::fs::write(root.join("generator.yml"), format!("app:\n  name: {name}\npaths:\n  sam_template: template.yaml\n")).unwrap();
    let _cleanup = esb_tests::ProjectContainers(name);
    let out = esb_tests::run_esb(ESB, root, &["build"]);
    let said = format!("{}{}", esb_tests::text(&out.stdout), esb_tests::text(&out.stderr));
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("go1.x is retired by Lambda; esb runs it as provided.al2023 does"), "{said}");
    assert!(said.contains("needs module github.com/aws/aws-lambda-go@v1.47.0, which cannot be downloaded from here"), "{said}");
    assert!(said.contains("go mod vendor"), "says what to do: {said}");
}
