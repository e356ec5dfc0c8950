//! Image functions (`PackageType: Image`, issue 21) against the real engine through the HTTPS
//! gateway: a Dockerfile that starts `FROM public.ecr.aws/lambda/python:3.14` and one `FROM
//! public.ecr.aws/lambda/nodejs:24` (in a subdirectory of its context, with a build arg and
//! `ImageConfig.Command`), neither of which any registry here serves, built on esb's bases and
//! said once; an `ImageUri` of an image already on the engine; an `ImageUri` that is not is a
//! clear error. Under `--watch`, a saved change to the function's code rebuilds its image.

use esb_tests::gateway::Served;
use esb_tests::{fixture_project, run_esb, text};
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

const URI_FUNCTION: &str = "  UriImage:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: IMAGE
      ImageConfig:
        Command: [\"app.lambda_handler\"]
      Events:
        Api: {Type: HttpApi, Properties: {Path: /uri-image, Method: get}}
";

fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker").args(args).output().expect("run docker");
    assert!(out.status.success(), "docker {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn image_functions_build_on_esbs_bases_without_a_registry_and_rebuild_on_save() {
    let (dir, _cleanup, name) = fixture_project("images", "imgfn");
    let build = run_esb(ESB, dir.path(), &["build"]);
    let said = format!("{}{}", text(&build.stdout), text(&build.stderr));
    assert!(build.status.success(), "esb build:\n{said}");
    assert!(
        said.contains(
            "FROM public.ecr.aws/lambda/python:3.14 is not on the engine (no registry is reachable): built on esb/base-python:3.14"
        ),
        "{said}"
    );
    assert!(said.contains("built on esb/base-nodejs:24"), "{said}");

    // An ImageUri of an image on the engine (the Python function's, under another name), and one
    // that is not there.
    let local = format!("esb-test-local-{name}:1");
    docker(&["tag", &format!("esb-{name}/pyimage:latest"), &local]);
    let template = dir.path().join("template.yaml");
    let original = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{original}{}", URI_FUNCTION.replace("IMAGE", "nowhere.example/none:1"))).unwrap();
    let missing = run_esb(ESB, dir.path(), &["build"]);
    let said = format!("{}{}", text(&missing.stdout), text(&missing.stderr));
    assert!(!missing.status.success(), "{said}");
    assert!(said.contains("ImageUri nowhere.example/none:1 is not on this engine, and esb cannot pull it"), "{said}");
    std::fs::write(&template, format!("{original}{}", URI_FUNCTION.replace("IMAGE", &local))).unwrap();

    let s = Served::start(ESB, dir.path(), &["--watch"]);
    let r = s.get("/py-image");
    assert_eq!((r.status, r.text().as_str()), (200, "python image v1 on 3.14"), "the Python image function on Python 3.14");
    let r = s.get("/node-image");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().starts_with("hello from a build arg on v24."), "DockerBuildArgs and ImageConfig.Command: {}", r.text());
    let r = s.get("/uri-image");
    assert_eq!((r.status, r.text().as_str()), (200, "python image v1 on 3.14"), "the ImageUri function");

    let app = dir.path().join("py/app.py");
    let code = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, code.replace("python image v1", "python image v2")).unwrap();
    let saved = Instant::now();
    while s.get("/py-image").text() != "python image v2 on 3.14" {
        assert!(saved.elapsed() < Duration::from_secs(120), "the rebuilt image never answered\n{}", s.log().join("\n"));
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("image function save to new build: {:.1} s", saved.elapsed().as_secs_f64());
    let index = dir.path().join("node/fn/index.mjs");
    let code = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, code.replace("${process.env.GREETING} on", "${process.env.GREETING}, saved, on")).unwrap();
    let saved = Instant::now();
    while !s.get("/node-image").text().starts_with("hello from a build arg, saved, on v24.") {
        assert!(saved.elapsed() < Duration::from_secs(120), "the rebuilt Node.js image never answered\n{}", s.log().join("\n"));
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(s.stop());
    docker(&["rmi", &local]);
}
