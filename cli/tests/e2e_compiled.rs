//! Functions esb compiles on the host as `sam build` does (issue 21), against the real engine
//! through the HTTPS gateway: a Rust package (`BuildMethod: rust-cargolambda`, the binary named
//! by `BuildProperties.Binary`) built by cargo into a static `bootstrap` on the provided base, and
//! a Python function built by `make build-MakeFunction` into `ARTIFACTS_DIR`, and a prebuilt
//! `bootstrap` dynamically linked against glibc (on the glibc base), and a Go function (a
//! BuildMethod esb does not run) served from its `sam build` artifacts in `.aws-sam/build`.
//! Under `--watch`, a
//! saved source change rebuilds that function and the new build answers; a change that does not
//! compile keeps the previous build serving.

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
fn rust_and_makefile_functions_are_built_by_esb_and_rebuilt_on_save() {
    let (dir, _cleanup, _) = fixture_project("compiled", "compiled");
    // The Rust function's binary, built the usual way (dynamically linked), is a prebuilt bootstrap.
    let target = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = std::process::Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "handler", "--target-dir"])
        .arg(target.path())
        .current_dir(dir.path().join("rust"))
        .env_remove("RUSTFLAGS")
        .status()
        .unwrap();
    assert!(built.success());
    std::fs::create_dir_all(dir.path().join("dynamic")).unwrap();
    std::fs::copy(target.path().join("release/handler"), dir.path().join("dynamic/bootstrap")).unwrap();
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
    assert_eq!((r.status, r.text().as_str()), (200, "compiled by esb"), "a dynamically linked bootstrap runs");
    assert!(s.log().iter().any(|l| l.contains("esb/base-provided-glibc")), "on the glibc base: {:?}", s.log());
    let r = s.request("POST", "/go", &[("content-type", "application/json")], br#"{"from": "sam build"}"#);
    assert_eq!(r.status, 200, "the sam build artifact answers: {}", r.text());
    assert!(r.text().contains("sam build"), "{}", r.text());
    assert!(s.log().iter().any(|l| l.contains("runs the `sam build` artifacts in .aws-sam/build/GoFunction")), "said once: {:?}", s.log());
    let r = s.get("/rust");
    assert_eq!((r.status, r.text().as_str()), (200, "compiled by esb"), "the Rust function cargo built");
    let r = s.get("/make");
    assert_eq!((r.status, r.text().as_str()), (200, "built by make"), "the function make built into ARTIFACTS_DIR");
    assert!(!dir.path().join("make/app.py").exists(), "make ran in a scratch copy, CodeUri is untouched");

    let main = dir.path().join("rust/src/main.rs");
    edit(&main, "\"compiled by esb\"", "\"recompiled on save\"");
    let took = until(&s, "the rebuilt Rust function answering", || s.get("/rust").text() == "recompiled on save");
    eprintln!("Rust save to new build: {:.1} s", took.as_secs_f64());

    // A change that does not compile: reported, and the previous build keeps serving.
    edit(&main, "fn main() {", "fn main() { let broken: u8 = \"no\";");
    until(&s, "the build failure reported", || s.log().iter().any(|l| l.contains("RustFunction") && l.contains("cargo failed")));
    assert_eq!(s.get("/rust").text(), "recompiled on save", "the previous build serves after a failed one");

    edit(&dir.path().join("make/app.py.in"), "built by @BUILT_BY@", "rebuilt by @BUILT_BY@");
    until(&s, "the rebuilt makefile function answering", || s.get("/make").text() == "rebuilt by make");
    assert!(s.stop());
}
