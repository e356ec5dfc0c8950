//! Storage with nothing lost: the example's S3 and DynamoDB functions write through the gateway, the
//! objects and items survive stopping and restarting everything, and only `esb down -v` deletes them.

use esb_tests::gateway::Served;
use esb_tests::{named_example_project, run_esb, text};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn volumes(project: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["volume", "ls", "-q", "--filter", &format!("label=esb.project={project}")])
        .output()
        .unwrap();
    text(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn objects_and_items_survive_restarts_and_only_down_v_deletes_them() {
    let (dir, _cleanup, project) = named_example_project("store");
    let payload: Vec<u8> = (0..=255u8).cycle().take(5000).collect();

    let s = Served::start(ESB, dir.path(), &[]);
    let storage_line = s.startup.iter().find(|l| l.starts_with("storage:")).cloned().unwrap_or_default();
    assert!(
        storage_line.contains("2 resources: 2 created"),
        "the bucket and table are provisioned before the first request: {:?}",
        s.startup
    );
    let put = s.request("PUT", "/files/notes/a.bin", &[("content-type", "application/octet-stream")], &payload);
    assert_eq!(put.status, 201, "{}", put.text());
    let get = s.get("/files/notes/a.bin");
    assert_eq!((get.status, get.body == payload), (200, true), "{}", get.text());
    let created = s.request("POST", "/items", &[("content-type", "application/json")], br#"{"name": "widget", "n": 3}"#);
    assert_eq!(created.status, 201, "{}", created.text());
    let item = created.json();
    let item_path = format!("/items/{}", item["id"].as_str().unwrap());
    assert_eq!(s.get(&item_path).json(), item);
    // A one-shot `esb invoke` reaches the same running storage.
    let event = dir.path().join("get-item.json");
    std::fs::write(&event, serde_json::json!({ "httpMethod": "GET", "pathParameters": { "id": item["id"] } }).to_string()).unwrap();
    let invoked = run_esb(ESB, dir.path(), &["invoke", "ItemsFunction", "--no-build", "--json", "--event", event.to_str().unwrap()]);
    assert!(text(&invoked.stdout).contains("widget"), "{}{}", text(&invoked.stdout), text(&invoked.stderr));
    let status = run_esb(ESB, dir.path(), &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(doc["storage"][0]["endpoint"].as_str().unwrap_or_default().starts_with("http://127.0.0.1:"), "{doc}");
    assert!(s.stop());
    let mut vols = volumes(&project);
    vols.sort();
    assert_eq!(vols, [format!("esb-{project}-dynamodb"), format!("esb-{project}-s3")], "the data volumes outlive the services");

    // Everything restarted: the object is still there, and nothing new is provisioned.
    let s = Served::start(ESB, dir.path(), &[]);
    assert!(s.startup.iter().any(|l| l.contains("0 created, 2 unchanged")), "a second start provisions nothing new: {:?}", s.startup);
    let get = s.get("/files/notes/a.bin");
    assert_eq!((get.status, get.body == payload), (200, true), "after a restart: {}", get.text());
    assert_eq!(s.get(&item_path).json(), item, "the exact item after a restart");
    assert!(s.stop());

    // down keeps data; down -v deletes it.
    let down = run_esb(ESB, dir.path(), &["down"]);
    assert!(text(&down.stdout).contains("data volumes kept"), "{}{}", text(&down.stdout), text(&down.stderr));
    assert_eq!(volumes(&project).len(), 2);
    // reset never deletes without a yes: not interactive and no -y is refused.
    let reset = std::process::Command::new(ESB).arg("reset").current_dir(dir.path()).stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(reset.status.code(), Some(1));
    assert!(text(&reset.stderr).contains("pass -y"), "{}", text(&reset.stderr));
    assert_eq!(volumes(&project).len(), 2, "nothing deleted");
    let down = run_esb(ESB, dir.path(), &["down", "-v"]);
    assert!(text(&down.stdout).contains("2 data volumes deleted"), "{}", text(&down.stdout));
    assert!(volumes(&project).is_empty());
    let s = Served::start(ESB, dir.path(), &[]);
    assert_eq!(s.get("/files/notes/a.bin").status, 404, "after down -v the object is gone");
    assert_eq!(s.get(&item_path).status, 404, "and so is the item");
    assert!(s.stop());
    assert!(run_esb(ESB, dir.path(), &["down", "-v"]).status.success());
}

#[test]
fn every_acknowledged_write_survives_kill_9_of_the_storage_service() {
    let (dir, _cleanup, project) = named_example_project("crash");
    let s = Served::start(ESB, dir.path(), &[]);
    let (mut acked, mut refused) = (vec![], 0);
    for i in 0..40 {
        if i == 15 {
            // Mid-stream: the DynamoDB service dies without warning.
            let kill =
                std::process::Command::new("docker").args(["kill", "-s", "KILL", &format!("esb-{project}-dynamodb")]).output().unwrap();
            assert!(kill.status.success(), "{}", text(&kill.stderr));
        }
        let r = s.request("POST", "/items", &[("content-type", "application/json")], format!(r#"{{"seq": {i}}}"#).as_bytes());
        if r.status == 201 {
            acked.push(r.json());
        } else {
            refused += 1;
        }
    }
    assert!(acked.len() >= 15 && refused > 0, "{} acknowledged, {refused} refused", acked.len());
    assert!(s.stop());
    // Brought back: every write the client saw acknowledged is there, exactly.
    let s = Served::start(ESB, dir.path(), &[]);
    for item in &acked {
        let r = s.get(&format!("/items/{}", item["id"].as_str().unwrap()));
        assert_eq!((r.status, r.json()), (200, item.clone()), "acknowledged write lost");
    }
    assert!(s.stop());
    assert!(run_esb(ESB, dir.path(), &["down", "-v"]).status.success());
}
