//! Every runtime family esb builds, on its exact version, against the real engine (issue 20):
//! Node.js 24 (an ES module in a subdirectory), Node.js 20 (CommonJS, a callback, a layer's
//! module), Node.js 18, a response-streaming handler (buffered), TypeScript bundled by esbuild, Python 3.11, 3.13 and 3.14 (3.13 with a
//! layer built from requirements.txt), and a Node.js function writing to its table with signed
//! plain HTTP, through the HTTPS gateway; Node.js errors, timeouts and import
//! failures in Lambda's shapes, and a plain `AWS::Lambda::Function` with
//! `Code.ZipFile`, through `esb invoke`. The bases come from Debian bookworm, trixie and sid,
//! one debootstrap per suite shared by its Python and Node.js bases.

use esb_tests::gateway::Served;
use esb_tests::{run_esb, runtimes_project, text};
use serde_json::Value;
use std::path::Path;

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn invoke(dir: &Path, function: &str, event: &str) -> Value {
    esb_tests::invoke_json(ESB, dir, function, event)
}

#[test]
fn node_and_python_functions_run_on_their_own_versions_with_lambdas_shapes() {
    let (dir, _cleanup, _) = runtimes_project("rt");
    let build = run_esb(ESB, dir.path(), &["build"]);
    assert!(build.status.success(), "esb build:\n{}\n{}", text(&build.stdout), text(&build.stderr));

    let s = Served::start(ESB, dir.path(), &[]);
    let r = s.request("POST", "/node24", &[("content-type", "application/json")], br#"{"hello": "esb"}"#);
    // CI once saw a 500 here on the cold Node.js 24 function: esb's log says why, if it happens again.
    assert_eq!(r.status, 200, "{}\nesb's log:\n{}", r.text(), s.log().join("\n"));
    let doc = r.json();
    assert!(doc["version"].as_str().unwrap().starts_with("v24."), "{doc}");
    assert_eq!(doc["functionName"], "NodeEsm");
    assert_eq!(doc["memory"], "128");
    assert!(doc["requestId"].as_str().is_some_and(|id| id.len() >= 32), "{doc}");
    let remaining = doc["remaining"].as_u64().unwrap();
    assert!(remaining > 0 && remaining <= 3000, "getRemainingTimeInMillis within the 3 s Timeout: {doc}");
    assert!(doc["arn"].as_str().unwrap().ends_with(":function:NodeEsm"), "{doc}");
    assert!(doc["trace"].as_str().is_some_and(|t| t.starts_with("Root=1-")), "the gateway's trace id reaches _X_AMZN_TRACE_ID: {doc}");

    let r = s.get("/node20");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert!(doc["version"].as_str().unwrap().starts_with("v20."), "{doc}");
    assert_eq!((doc["greeting"].as_str(), doc["cjs"].as_bool()), (Some("hello, esb"), Some(true)), "a layer's module: {doc}");
    let r = s.get("/ts");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["said"], "TYPED AND BUNDLED", "TypeScript bundled by esbuild: {}", r.text());
    for (path, version) in [("/py311", "3.11."), ("/py313", "3.13."), ("/py314", "3.14.")] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let doc = r.json();
        assert!(doc["version"].as_str().unwrap().starts_with(version), "{path} reports its own sys.version: {doc}");
    }
    let py313 = s.get("/py313").json();
    assert_eq!(py313["layer"], "hello, esb (six 1.16.0)", "a BuildMethod layer's module and requirements in /opt/python: {py313}");
    let r = s.request("POST", "/node18", &[("content-type", "application/json")], b"{}");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["version"].as_str().unwrap().starts_with("v18."), "{}", r.text());
    let r = s.get("/stream");
    assert_eq!((r.status, r.text().as_str()), (201, "hello streamed world"), "a streamifyResponse handler, buffered");
    assert_eq!(r.header("x-streamed"), Some("yes"), "{:?}", r.headers);
    let r = s.get("/ddb?id=from-node");
    assert_eq!(r.status, 200, "a Node.js function writes to and reads from its table: {}", r.text());
    let stored = &r.json()["stored"];
    assert_eq!(stored["id"]["S"], "from-node", "{stored}");
    assert!(stored["runtime"]["S"].as_str().unwrap().starts_with("v24."), "{stored}");
    assert!(s.stop());

    let failed = invoke(dir.path(), "NodeEsm", r#"{"body": "{\"fail\": \"yes\"}"}"#);
    assert_eq!((failed["outcome"].as_str(), failed["error_type"].as_str()), (Some("error"), Some("TypeError")), "{failed}");
    assert!(failed["payload"]["trace"][0].as_str().unwrap().contains("failing on purpose"), "Lambda's Node.js error shape: {failed}");
    let logs = failed["logs"].as_str().unwrap();
    assert!(logs.contains("\tINFO\tnode24 handling"), "console.log as Lambda prints it: {logs}");
    let plain = invoke(dir.path(), "PlainLambda", r#"{"n": 1}"#);
    assert_eq!((plain["outcome"].as_str(), &plain["payload"]["got"]["n"]), (Some("success"), &serde_json::json!(1)), "{plain}");
    let broken = invoke(dir.path(), "NodeBroken", "{}");
    assert_eq!(broken["error_type"], "Runtime.ImportModuleError", "{broken}");
    let slow = invoke(dir.path(), "NodeEsm", r#"{"body": "{\"sleep\": 5}"}"#);
    assert_eq!(slow["outcome"], "timeout", "{slow}");
    debugger_port_answers_the_inspector_protocol(dir.path());
}

/// `esb invoke -d PORT`: the function waits under Node's inspector on 127.0.0.1:PORT, which
/// answers its discovery endpoint and the inspector protocol over a WebSocket; once the debugger
/// says "run", the invocation completes.
fn debugger_port_answers_the_inspector_protocol(dir: &Path) {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let event = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(event.path(), r#"{"n": 2}"#).unwrap();
    let child = std::process::Command::new(ESB)
        .current_dir(dir)
        .args(["invoke", "PlainLambda", "--json", "--no-build", "-d", &port.to_string(), "--event", event.path().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The inspector's discovery endpoint, once the container is up.
    let started = std::time::Instant::now();
    let list = loop {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "no inspector on port {port} within 60 s");
        std::thread::sleep(std::time::Duration::from_millis(200));
        let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else { continue };
        c.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        if c.write_all(b"GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
            continue;
        }
        let mut got = vec![];
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = c.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()));
                if len.is_some_and(|len| body.len() >= len) {
                    break;
                }
            }
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((_, body)) = text.split_once("\r\n\r\n") {
            if let Ok(v) = serde_json::from_str::<Value>(body) {
                break v;
            }
        }
    };
    let ws = list[0]["webSocketDebuggerUrl"].as_str().unwrap_or_else(|| panic!("{list}"));
    let path = format!("/{}", ws.splitn(4, '/').nth(3).unwrap());
    // The inspector protocol over a WebSocket (RFC 6455; a client frame is masked, here with 0s).
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
    let mut buf = [0u8; 4096];
    let n = c.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"), "{}", String::from_utf8_lossy(&buf[..n]));
    let message = br#"{"id":1,"method":"Runtime.runIfWaitingForDebugger"}"#;
    let mut frame = vec![0x81, 0x80 | message.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(message);
    c.write_all(&frame).unwrap();
    let mut answer = vec![];
    while !String::from_utf8_lossy(&answer).contains(r#""id":1"#) {
        let n = c.read(&mut buf).expect("the inspector answers");
        assert!(n > 0, "the inspector closed the connection");
        answer.extend_from_slice(&buf[..n]);
    }
    let out = child.wait_with_output().unwrap();
    drop(c);
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", text(&out.stdout), text(&out.stderr)));
    assert_eq!((doc["outcome"].as_str(), &doc["payload"]["got"]["n"]), (Some("success"), &serde_json::json!(2)), "{doc}");
    assert!(text(&out.stderr).contains(&format!("waiting for a debugger on 127.0.0.1:{port}")), "{}", text(&out.stderr));
}
