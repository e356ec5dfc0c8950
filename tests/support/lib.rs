//! Support for esb's end-to-end and golden tests.
//!
//! Owns: locating the example project (`tests/fixtures`), copying it into a temp dir so a test can
//! change it freely, and comparing a generated tree with a golden tree (`ESB_UPDATE_GOLDEN=1`
//! rewrites the golden files instead). Must not: hide failures; every helper panics with the reason.
#![forbid(unsafe_code)]

pub mod chaos;
pub mod gateway;

use std::path::{Path, PathBuf};

/// `tests/` of the workspace.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The example project.
pub fn fixtures() -> PathBuf {
    tests_dir().join("fixtures")
}

/// Copies the example project (without any generated `.esb/`) into a fresh temp dir.
pub fn example_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&fixtures(), dir.path());
    let _ = std::fs::remove_dir_all(dir.path().join("faults"));
    let _ = std::fs::remove_dir_all(dir.path().join("runtimes"));
    let _ = std::fs::remove_dir_all(dir.path().join("compiled"));
    let _ = std::fs::remove_dir_all(dir.path().join("java"));
    let _ = std::fs::remove_dir_all(dir.path().join("images"));
    let _ = std::fs::remove_dir_all(dir.path().join("nested"));
    let _ = std::fs::remove_dir_all(dir.path().join("openapi"));
    dir
}

/// The runtime fixtures (`tests/fixtures/runtimes`: Node.js 20 and 24, Python 3.13 and 3.14) under
/// a unique project name (`<prefix><pid>`); the guard removes the project's containers and volumes.
pub fn runtimes_project(prefix: &str) -> (tempfile::TempDir, ProjectContainers, String) {
    fixture_project("runtimes", prefix)
}

/// A fixture directory (`tests/fixtures/<fixture>`) as a project of its own under a unique name
/// (`<prefix><pid>`); the guard removes the project's containers and volumes.
pub fn fixture_project(fixture: &str, prefix: &str) -> (tempfile::TempDir, ProjectContainers, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&fixtures().join(fixture), dir.path());
    let name = format!("{prefix}{}", std::process::id());
    std::fs::write(dir.path().join("generator.yml"), format!("app:\n  name: {name}\npaths:\n  sam_template: template.yaml\n"))
        .expect("write generator.yml");
    (dir, ProjectContainers(name.clone()), name)
}

/// The example project under a unique project name (`<prefix><pid>`), so parallel tests never share
/// containers, volumes or buckets; the guard removes them all when dropped.
pub fn named_example_project(prefix: &str) -> (tempfile::TempDir, ProjectContainers, String) {
    let dir = example_project();
    let name = format!("{prefix}{}", std::process::id());
    let g = std::fs::read_to_string(dir.path().join("generator.yml"))
        .expect("generator.yml")
        .replace("name: example", &format!("name: {name}"));
    std::fs::write(dir.path().join("generator.yml"), g).expect("write generator.yml");
    (dir, ProjectContainers(name.clone()), name)
}

/// Copies the fault-fixture project (`tests/fixtures/faults`) into a fresh temp dir, with the echo
/// function's static `bootstrap` in place.
pub fn faults_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&fixtures().join("faults"), dir.path());
    let target = dir.path().join("functions/echo/bootstrap");
    std::fs::copy(echo_bootstrap(), &target).expect("copy bootstrap");
    dir
}

/// Runs the esb binary `bin` (pass `env!("CARGO_BIN_EXE_esb")`) in `dir`, with colours off and
/// no `ESB_TEMPLATE` inherited.
pub fn run_esb(bin: &str, dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin).args(args).current_dir(dir).env_remove("ESB_TEMPLATE").env("NO_COLOR", "1").output().expect("run esb")
}

/// `esb invoke FUNCTION --json --no-build` with `event` (a JSON text) in `dir`: the report.
pub fn invoke_json(bin: &str, dir: &Path, function: &str, event: &str) -> serde_json::Value {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), event).expect("write the event");
    let out = run_esb(bin, dir, &["invoke", function, "--json", "--no-build", "--event", &file.path().display().to_string()]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", text(&out.stdout), text(&out.stderr)))
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Removes every container and volume of an esb project when dropped, so a failing test leaves
/// nothing behind.
pub struct ProjectContainers(pub String);

impl Drop for ProjectContainers {
    fn drop(&mut self) {
        self.remove_containers();
        if let Ok(out) =
            std::process::Command::new("docker").args(["volume", "ls", "-q", "--filter", &format!("label=esb.project={}", self.0)]).output()
        {
            let names: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
            if !names.is_empty() {
                let _ = std::process::Command::new("docker").args(["volume", "rm", "-f"]).args(&names).output();
            }
        }
        if let Ok(out) = std::process::Command::new("docker")
            .args(["network", "ls", "-q", "--filter", &format!("label=esb.project={}", self.0)])
            .output()
        {
            let ids: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
            if !ids.is_empty() {
                let _ = std::process::Command::new("docker").args(["network", "rm"]).args(&ids).output();
            }
        }
    }
}

impl ProjectContainers {
    /// Removes the project's containers now (volumes stay until the guard is dropped).
    pub fn remove_containers(&self) {
        let Ok(out) =
            std::process::Command::new("docker").args(["ps", "-aq", "--filter", &format!("label=esb.project={}", self.0)]).output()
        else {
            return;
        };
        let ids: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
        if !ids.is_empty() {
            let _ = std::process::Command::new("docker").args(["rm", "-f"]).args(&ids).output();
        }
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    tests_dir().parent().expect("tests/ has a parent").to_path_buf()
}

/// Builds `tests/functions/echo` as a static binary (once per test process; cargo makes repeats
/// no-ops) in its own target dir, so its flags never invalidate the main build. Returns its path.
pub fn echo_bootstrap() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = workspace_root();
            let target_dir = root.join("target/fixtures");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "--release", "--quiet", "-p", "esb-fixture-echo", "--target", "x86_64-unknown-linux-gnu", "--target-dir"])
                .arg(&target_dir)
                .env("RUSTFLAGS", "-C target-feature=+crt-static")
                .current_dir(&root)
                .status()
                .expect("run cargo to build the echo fixture");
            assert!(status.success(), "building the echo fixture failed");
            target_dir.join("x86_64-unknown-linux-gnu/release/bootstrap")
        })
        .clone()
}

/// Copies a fixture directory (without esb output or bytecode caches).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir").flatten() {
        let name = entry.file_name();
        if name == ".esb" || name == "__pycache__" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every file under `root`, relative, sorted.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(entry.path());
            } else {
                out.push(entry.path().strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// A generated file's name in a golden tree: a generated `.gitignore` (`*`) would make git ignore
/// the golden files themselves, so it is kept as `gitignore.golden`.
fn golden_name(rel: &str) -> String {
    match rel.strip_suffix(".gitignore") {
        Some(dir) if dir.is_empty() || dir.ends_with('/') => format!("{dir}gitignore.golden"),
        _ => rel.to_string(),
    }
}

/// Asserts that `actual` holds exactly the files of `golden`, byte for byte.
/// With `ESB_UPDATE_GOLDEN=1` the golden tree is replaced by `actual` instead.
pub fn assert_golden(actual: &Path, golden: &Path) {
    if std::env::var_os("ESB_UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(golden);
        for rel in files_under(actual) {
            let target = golden.join(golden_name(&rel));
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::copy(actual.join(&rel), target).expect("copy");
        }
        return;
    }
    let mut have: Vec<(String, String)> = files_under(actual).into_iter().map(|rel| (golden_name(&rel), rel)).collect();
    have.sort();
    let want = files_under(golden);
    assert_eq!(
        have.iter().map(|(g, _)| g.clone()).collect::<Vec<_>>(),
        want,
        "generated file set differs from {} (ESB_UPDATE_GOLDEN=1 to accept)",
        golden.display()
    );
    for (name, rel) in have {
        let (a, g) =
            (std::fs::read_to_string(actual.join(&rel)).expect("read"), std::fs::read_to_string(golden.join(&name)).expect("read"));
        assert!(a == g, "{rel} differs from its golden file (ESB_UPDATE_GOLDEN=1 to accept):\n--- golden\n{g}\n--- generated\n{a}");
    }
}

/// An HTTP endpoint on loopback that answers the first `fail_first` requests with 500 and the rest
/// with 204, recording each accepted one as its request line, a newline, and its body (a test
/// stand-in for a log store). Returns its port and the record.
pub fn http_sink(fail_first: usize) -> (u16, std::sync::Arc<std::sync::Mutex<String>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for (n, mut sock) in listener.incoming().map_while(Result::ok).enumerate() {
            let mut data = vec![];
            let mut buf = [0u8; 65536];
            loop {
                let read = sock.read(&mut buf).unwrap_or(0);
                if read == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..read]);
                let text = String::from_utf8_lossy(&data).to_string();
                let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
                let want: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                    .unwrap_or(0);
                if body.len() < want {
                    continue;
                }
                let status = if n < fail_first {
                    "500 Internal Server Error"
                } else {
                    seen.lock().expect("record").push_str(&format!("{}\n{body}", head.lines().next().unwrap_or_default()));
                    "204 No Content"
                };
                let _ = sock.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes());
                break;
            }
        }
    });
    (port, got)
}

/// boto3 from PyPI (cached in target/), installed once per machine; the directory to put on
/// PYTHONPATH.
pub fn boto3_site() -> PathBuf {
    let dir = workspace_root().join("target/py-boto3");
    if !dir.join("boto3").is_dir() {
        let status = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(&dir)
            .arg("boto3==1.44.5")
            .env("PIP_ROOT_USER_ACTION", "ignore")
            .status()
            .expect("python3 -m pip");
        assert!(status.success(), "pip install boto3 failed");
    }
    dir
}
