//! Provisioning against the real services, and the storage settings of generator.yml: a table the
//! service cannot match is a clear per-resource error while everything else comes up; a missing
//! index is added in place; the DynamoDB journal is compacted and loses nothing; fixed host ports.

use esb_tests::gateway::Served;
use esb_tests::{named_example_project, run_esb, text};
use std::path::Path;

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn edit(path: &Path, from: &str, to: &str) {
    let s = std::fs::read_to_string(path).unwrap();
    assert!(s.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, s.replacen(from, to, 1)).unwrap();
}

const AUDIT_TABLE: &str = "  AuditTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub audit-${Stage}
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: id
          AttributeType: S
      KeySchema:
        - AttributeName: id
          KeyType: HASH

Outputs:";

#[test]
fn a_table_the_service_cannot_match_is_named_while_the_rest_comes_up() {
    let (dir, _cleanup, _project) = named_example_project("prov");
    let template = dir.path().join("template.yaml");
    edit(&template, "\nOutputs:", &format!("\n{AUDIT_TABLE}"));
    let s = Served::start(ESB, dir.path(), &[]);
    assert!(s.startup.iter().any(|l| l.contains("3 resources: 3 created")), "{:?}", s.startup);
    assert!(s.stop());

    // The items table's key changes (the data in it was written under the old key), and the audit
    // table gains an index.
    edit(&template, "      KeySchema:\n        - AttributeName: id\n          KeyType: HASH\n      GlobalSecondaryIndexes:", "      KeySchema:\n        - AttributeName: id\n          KeyType: HASH\n        - AttributeName: kind\n          KeyType: RANGE\n      GlobalSecondaryIndexes:");
    edit(
        &template,
        "        - AttributeName: id\n          AttributeType: S\n      KeySchema:\n        - AttributeName: id\n          KeyType: HASH\n\nOutputs:",
        "        - AttributeName: id\n          AttributeType: S\n        - AttributeName: day\n          AttributeType: S\n      KeySchema:\n        - AttributeName: id\n          KeyType: HASH\n      GlobalSecondaryIndexes:\n        - IndexName: by-day\n          KeySchema:\n            - AttributeName: day\n              KeyType: HASH\n          Projection:\n            ProjectionType: KEYS_ONLY\n\nOutputs:",
    );
    let s = Served::start(ESB, dir.path(), &[]);
    let storage = s.startup.iter().find(|l| l.starts_with("storage: s3")).cloned().unwrap_or_default();
    assert!(storage.contains("3 resources: 0 created, 1 unchanged, 1 updated, 1 failed"), "{:?}", s.startup);
    assert!(s.startup.iter().any(|l| l.contains("table AuditTable (audit-dev): added index by-day")), "{:?}", s.startup);
    let log = s.log().join("\n");
    assert!(
        log.contains("table ItemsTable (items-dev) is not usable")
            && log.contains("its key is (id HASH), the template's is (id HASH, kind RANGE)")
            && log.contains("esb down -v"),
        "the error names the table, both keys and the way out:\n{log}"
    );
    // Everything else is up: a function, the bucket.
    assert_eq!(s.get("/hello").status, 200);
    let put = s.request("PUT", "/files/ok.txt", &[("content-type", "text/plain")], b"still here");
    assert_eq!(put.status, 201, "{}", put.text());
    assert!(s.stop());
    assert!(run_esb(ESB, dir.path(), &["down", "-v"]).status.success());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn docker_logs(container: &str) -> String {
    let out = std::process::Command::new("docker").args(["logs", container]).output().unwrap();
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_journal_is_compacted_on_start_and_loses_nothing_and_host_ports_are_fixed() {
    let (dir, _cleanup, project) = named_example_project("compact");
    let (s3_port, db_port) = (free_port(), free_port());
    let settings = format!(
        "storage:\n  s3:\n    engine: builtin\n    host_port: {s3_port}\n  dynamodb:\n    host_port: {db_port}\n    compact_after: 20\n"
    );
    let generator = dir.path().join("generator.yml");
    std::fs::write(&generator, std::fs::read_to_string(&generator).unwrap() + &settings).unwrap();

    let s = Served::start(ESB, dir.path(), &[]);
    let storage = s.startup.iter().find(|l| l.starts_with("storage:")).cloned().unwrap_or_default();
    assert!(
        storage.contains(&format!("s3 on http://127.0.0.1:{s3_port}"))
            && storage.contains(&format!("dynamodb on http://127.0.0.1:{db_port}")),
        "the configured host ports are used: {storage}\n{}",
        s.log().join("\n")
    );
    // One item rewritten 25 times, two more, one of them deleted: 30 journal entries, 2 items left.
    let json = [("content-type", "application/json")];
    let first = s.request("POST", "/items", &json, br#"{"n": 0}"#).json();
    let path = format!("/items/{}", first["id"].as_str().unwrap());
    let mut last = first.clone();
    for n in 1..=25 {
        let r = s.request("PUT", &path, &json, format!(r#"{{"n": {n}, "note": "rewrite {n}"}}"#).as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        last = r.json();
    }
    let kept = s.request("POST", "/items", &json, br#"{"name": "kept"}"#).json();
    let gone = s.request("POST", "/items", &json, br#"{"name": "gone"}"#).json();
    assert_eq!(s.request("DELETE", &format!("/items/{}", gone["id"].as_str().unwrap()), &[], b"").status, 204);
    assert!(s.stop());

    for round in ["compacted", "replayed after compaction"] {
        let s = Served::start(ESB, dir.path(), &[]);
        let logs = docker_logs(&format!("esb-{project}-dynamodb"));
        if round == "compacted" {
            let line = logs.lines().find(|l| l.contains("journal compacted")).unwrap_or_else(|| panic!("no compaction:\n{logs}"));
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(entry["before"].as_u64().unwrap() >= 30, "{line}");
            assert!(entry["after"].as_u64().unwrap() <= 4, "table, TTL and two items: {line}");
        } else {
            assert!(!logs.contains("journal compacted"), "a short journal is left alone:\n{logs}");
        }
        assert_eq!(s.get(&path).json(), last, "{round}: the last write of the rewritten item");
        assert_eq!(s.get(&format!("/items/{}", kept["id"].as_str().unwrap())).json(), kept, "{round}");
        assert_eq!(s.get(&format!("/items/{}", gone["id"].as_str().unwrap())).status, 404, "{round}: deleted stays deleted");
        assert_eq!(s.get("/items").json()["items"].as_array().map(Vec::len), Some(2), "{round}");
        assert!(s.stop());
    }
    assert!(run_esb(ESB, dir.path(), &["down", "-v"]).status.success());
}

fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The production-engine path, as an air-gapped operator uses it: an image tarball in
/// `build/lambda-images/`, named in `storage.s3.image`. RustFS itself cannot be obtained here (no
/// registry), so the tarball holds a stand-in that takes RustFS's command line (the data dir as
/// its argument): this checks esb's side (loading, choosing, the separate volume, the endpoint,
/// the error when the image is missing), not RustFS's fidelity.
#[test]
fn a_loaded_production_image_is_chosen_and_a_missing_one_is_a_named_warning() {
    let (dir, _cleanup, project) = named_example_project("engine");
    let generator = dir.path().join("generator.yml");
    let plain = std::fs::read_to_string(&generator).unwrap();
    let missing = "esb-test/not-loaded:1";
    std::fs::write(&generator, format!("{plain}storage:\n  s3:\n    engine: rustfs\n    image: {missing}\n")).unwrap();
    let s = Served::start(ESB, dir.path(), &[]);
    let log = s.log().join("\n");
    assert!(
        log.contains(&format!("storage.s3.engine is `rustfs`, but its image {missing} is not loaded")) && log.contains("docker load"),
        "{log}"
    );
    assert_eq!(s.get("/hello").status, 200, "the rest comes up without S3");
    assert_eq!(s.get("/items").status, 200, "and DynamoDB is there");
    assert!(s.stop());

    // The stand-in: esb's own S3 server behind RustFS's command line, saved as a tarball and removed
    // from the engine, as on a site where only tarballs arrive.
    let esb_image = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", "esb/daemon"]).lines().next().unwrap().to_string();
    let standin = format!("esb-test/rustfs-standin:{project}");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {esb_image}\nENTRYPOINT [\"/usr/local/bin/esb\", \"storage-s3\", \"--listen\", \"0.0.0.0:9000\", \"--root\"]\n"),
    )
    .unwrap();
    docker(&["build", "-q", "-t", &standin, &ctx.path().display().to_string()]);
    let tarballs = dir.path().join("build/lambda-images");
    std::fs::create_dir_all(&tarballs).unwrap();
    docker(&["save", "-o", &tarballs.join("rustfs.tar").display().to_string(), &standin]);
    docker(&["rmi", &standin]);
    std::fs::write(&generator, format!("{plain}storage:\n  s3:\n    image: {standin}\n")).unwrap();

    let s = Served::start(ESB, dir.path(), &[]);
    let storage = s.startup.iter().find(|l| l.starts_with("storage:")).cloned().unwrap_or_default();
    assert!(storage.contains("s3 (rustfs) on http://127.0.0.1:"), "auto picks the loaded image: {:?}", s.startup);
    let put = s.request("PUT", "/files/engine.txt", &[("content-type", "text/plain")], b"on the production engine");
    assert_eq!(put.status, 201, "{}", put.text());
    assert_eq!(s.get("/files/engine.txt").body, b"on the production engine");
    let status = run_esb(ESB, dir.path(), &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let s3 = doc["storage"].as_array().unwrap().iter().find(|e| e["service"] == "s3").cloned().unwrap_or_default();
    assert_eq!(s3["engine"], "rustfs", "{doc}");
    let volumes = docker(&["volume", "ls", "-q", "--filter", &format!("label=esb.project={project}")]);
    assert!(volumes.lines().any(|v| v == format!("esb-{project}-s3-rustfs")), "its own volume: {volumes}");
    assert!(s.stop());
    assert!(run_esb(ESB, dir.path(), &["down", "-v"]).status.success());
    let _ = std::process::Command::new("docker").args(["rmi", "-f", &standin]).output();
}
