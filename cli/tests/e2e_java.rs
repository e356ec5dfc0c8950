//! Java functions on their exact JREs (issue 21), against the real engine through the HTTPS
//! gateway: a POJO handler (`example.Pojo::handle`, Map in and out) on Java 21 from a classes
//! directory with `lib/*.jar`, a `RequestHandler` (`example.Greeter`, POJO in and out) on Java 25
//! from a zip, and a static String handler from a jar without aws-lambda-java-core on Java 8, 11,
//! 17 and 25, each its exact JRE.
//! The test compiles them with the JDK (no Maven: it cannot reach Maven Central), with a stand-in
//! for aws-lambda-java-core's interfaces in `lib/`, as a real project's build would carry them.
//! They see their Context and the gateway's trace id, throw with Lambda's Java error shape, and
//! time out; under `--watch`, a recompiled class is rebuilt into the function and answers.

use esb_tests::gateway::Served;
use esb_tests::{fixture_project, run_esb, text};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}:\n{}\n{}", text(&out.stdout), text(&out.stderr));
}

fn javac(dir: &Path, release: &str, classpath: &str, out: &str, sources: &[&str]) {
    run(Command::new("javac")
        .args(["--release", release, "-nowarn", "-Xlint:-options", "-cp", classpath, "-d", out])
        .args(sources)
        .current_dir(dir));
}

fn jar(dir: &Path, file: &str, from: &str, manifest: bool) {
    let flags = if manifest { "--create" } else { "--create --no-manifest" };
    let mut cmd = Command::new("jar");
    cmd.args(flags.split(' ')).args(["--file", file, "-C", from, "."]).current_dir(dir);
    run(&mut cmd);
}

/// Compiles the fixture's functions into `build/` as the template expects them.
fn compile(dir: &Path) {
    let core: Vec<String> = ["Context", "LambdaLogger", "RequestHandler", "RequestStreamHandler"]
        .iter()
        .map(|c| format!("core/com/amazonaws/services/lambda/runtime/{c}.java"))
        .collect();
    let core: Vec<&str> = core.iter().map(String::as_str).collect();
    javac(dir, "11", ".", "build/core", &core);
    std::fs::create_dir_all(dir.join("build/pojo/lib")).unwrap();
    jar(dir, "build/pojo/lib/aws-lambda-java-core.jar", "build/core", true);
    javac(dir, "11", "build/core", "build/pojo", &["pojo/example/Pojo.java"]);
    greeter(dir);
    javac(dir, "8", ".", "build/plain-classes", &["plain/example/Plain.java"]);
    // A scheduled-event handler, with Joda-Time (a stand-in) and aws-lambda-java-core in lib/.
    std::fs::create_dir_all(dir.join("build/scheduled/lib")).unwrap();
    javac(dir, "8", ".", "build/joda", &["joda/org/joda/time/DateTime.java"]);
    jar(dir, "build/scheduled/lib/joda-time.jar", "build/joda", true);
    std::fs::copy(dir.join("build/pojo/lib/aws-lambda-java-core.jar"), dir.join("build/scheduled/lib/aws-lambda-java-core.jar")).unwrap();
    javac(dir, "11", "build/core:build/joda", "build/scheduled", &["scheduled/example/Scheduled.java"]);
    jar(dir, "build/plain.jar", "build/plain-classes", true);
}

/// The Greeter as a zip: its classes at the root, aws-lambda-java-core in lib/.
fn greeter(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.join("build/greeter"));
    std::fs::create_dir_all(dir.join("build/greeter/lib")).unwrap();
    std::fs::copy(dir.join("build/pojo/lib/aws-lambda-java-core.jar"), dir.join("build/greeter/lib/aws-lambda-java-core.jar")).unwrap();
    javac(dir, "11", "build/core", "build/greeter", &["greeter/example/Greeter.java"]);
    let _ = std::fs::remove_file(dir.join("build/greeter.zip"));
    jar(dir, "build/greeter.zip", "build/greeter", false);
}

fn invoke(dir: &Path, function: &str, event: &str) -> Value {
    esb_tests::invoke_json(ESB, dir, function, event)
}

#[test]
fn java_21_and_25_functions_run_with_lambdas_context_errors_and_timeouts_and_rebuild_on_save() {
    let (dir, _cleanup, _) = fixture_project("java", "java");
    compile(dir.path());
    let build = run_esb(ESB, dir.path(), &["build"]);
    assert!(build.status.success(), "esb build:\n{}\n{}", text(&build.stdout), text(&build.stderr));
    let said = format!("{}{}", text(&build.stdout), text(&build.stderr));
    for base in ["esb/base-java:8", "esb/base-java:11", "esb/base-java:17", "esb/base-java:21", "esb/base-java:25"] {
        assert!(said.contains(base), "{base}: {said}");
    }

    let s = Served::start(ESB, dir.path(), &["--watch"]);
    let r = s.get("/java21/hello");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert_eq!((doc["java"].as_str(), doc["said"].as_str()), (Some("21"), Some("hello from java")), "{doc}");
    assert_eq!((doc["functionName"].as_str(), doc["memory"].as_u64()), (Some("PojoFunction"), Some(256)), "{doc}");
    assert!(doc["requestId"].as_str().is_some_and(|id| id.len() >= 32), "{doc}");
    let remaining = doc["remaining"].as_u64().unwrap();
    assert!(remaining > 0 && remaining <= 3000, "getRemainingTimeInMillis within the 3 s Timeout: {doc}");
    assert!(doc["arn"].as_str().unwrap().ends_with(":function:PojoFunction"), "{doc}");
    assert!(doc["trace"].as_str().is_some_and(|t| t.starts_with("Root=1-")), "the gateway's trace id reaches the JVM: {doc}");
    let again = s.get("/java21/hello").json();
    assert_eq!(again["instance"], doc["instance"], "the handler's class is instantiated once, at init");

    let r = s.request("POST", "/java25?name=esb", &[("content-type", "application/json")], b"{\"x\": 1}");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "greeting v1: hello esb (POST, java 25, GreeterFunction, 8 bytes)", "a RequestHandler with POJO types");

    let r = s.get("/java21/slow");
    assert_eq!(r.status, 502, "a handler past its Timeout is a function error to API Gateway: {}", r.text());
    assert_eq!(s.get("/java21/hello").status, 200, "a fresh JVM serves after the timeout");

    // Rebuilt on save: the developer recompiles the Greeter (as their IDE or build tool would).
    let source = dir.path().join("greeter/example/Greeter.java");
    let code = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, code.replace("greeting v1", "greeting v2")).unwrap();
    let saved = Instant::now();
    greeter(dir.path());
    loop {
        let r = s.get("/java25?name=again");
        if r.text().starts_with("greeting v2") {
            break;
        }
        assert!(saved.elapsed() < Duration::from_secs(120), "the rebuilt Greeter never answered: {}\n{}", r.text(), s.log().join("\n"));
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("Java save to new build: {:.1} s", saved.elapsed().as_secs_f64());
    assert!(s.stop());

    let failed = invoke(dir.path(), "PojoFunction", r#"{"pathParameters": {"action": "fail"}}"#);
    assert_eq!(
        (failed["outcome"].as_str(), failed["error_type"].as_str()),
        (Some("error"), Some("java.lang.IllegalStateException")),
        "{failed}"
    );
    let payload = &failed["payload"];
    assert_eq!(payload["errorMessage"], "pojo failed on purpose", "{failed}");
    assert!(
        payload["stackTrace"][0].as_str().unwrap().starts_with("example.Pojo.handle(Pojo.java:"),
        "Lambda's Java error shape: {failed}"
    );
    assert_eq!(payload["cause"]["errorType"], "java.lang.IllegalArgumentException", "{failed}");
    assert!(failed["logs"].as_str().unwrap().contains("pojo handling fail"), "LambdaLogger lines are the function's logs: {failed}");

    let slow = invoke(dir.path(), "PojoFunction", r#"{"pathParameters": {"action": "slow"}}"#);
    assert_eq!(slow["outcome"], "timeout", "{slow}");
    assert!(slow["error_message"].as_str().unwrap().contains("Task timed out after 3.00 seconds"), "{slow}");

    // One jar (compiled for Java 8, no aws-lambda-java-core) on every Java runtime, each its own JRE.
    for (function, version) in [("PlainFunction", "25"), ("Plain17", "17"), ("Plain11", "11"), ("Plain8", "1.8")] {
        let plain = invoke(dir.path(), function, r#""shout""#);
        let want = format!("SHOUT on {version}");
        assert_eq!((plain["outcome"].as_str(), plain["payload"].as_str()), (Some("success"), Some(want.as_str())), "{plain}");
    }
    let event =
        r#"{"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-12-02T10:00:00Z", "detail": {}}"#;
    let scheduled = invoke(dir.path(), "ScheduledFunction", event);
    assert_eq!(
        scheduled["payload"].as_str(),
        Some("Scheduled Event from aws.events at DateTime(2026-12-02T10:00:00Z)"),
        "detail-type and a Joda DateTime read as Lambda's serializer reads them: {scheduled}"
    );
    let missing = invoke(dir.path(), "MissingClass", "{}");
    assert_eq!(missing["error_type"], "java.lang.ClassNotFoundException", "an init failure in Lambda's shape: {missing}");
    assert!(missing["error_message"].as_str().is_some_and(|m| m.starts_with("Class not found: example.Nope")), "{missing}");
    let boom = invoke(dir.path(), "GreeterFunction", r#"{"queryStringParameters": {"name": "boom"}}"#);
    assert_eq!(boom["error_type"], "java.lang.UnsupportedOperationException", "{boom}");
}
