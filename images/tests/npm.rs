//! `npm ci --omit=dev` as a build step, against stand-in `npm` programs on the PATH (no registry is
//! reachable from this machine, and the test must not depend on one): a successful install is
//! cached by the manifests' hash and used, a real npm failure fails with npm's output, and an
//! unreachable registry is not an error (the compile step already named the missing packages).
//! Its own test binary: it sets PATH and ESB_CACHE_DIR for the whole process.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn fake_npm(dir: &Path, script: &str) {
    let npm = dir.join("npm");
    std::fs::write(&npm, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn code(dir: &Path, deps: &str) -> std::path::PathBuf {
    let code = dir.join(format!("code-{}", deps.len()));
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("package.json"), format!(r#"{{"name": "f", "dependencies": {{{deps}}}}}"#)).unwrap();
    code
}

#[test]
fn npm_installs_are_cached_failures_show_npms_output_and_no_registry_is_not_an_error() {
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::env::set_var("ESB_CACHE_DIR", work.path().join("cache"));
    std::env::set_var("PATH", format!("{}:/usr/bin:/bin", bin.display()));

    // Installs: the package lands in a cached node_modules; the user's CodeUri is not touched.
    fake_npm(&bin, "echo \"$@\" >> ../calls; mkdir -p node_modules/left-pad && echo ok > node_modules/left-pad/index.js");
    let a = code(work.path(), r#""left-pad": "1""#);
    assert!(esb_images::npm::installs(&a));
    let modules = esb_images::npm::install(&a).unwrap().expect("installed");
    assert!(modules.join("left-pad/index.js").is_file());
    assert!(!a.join("node_modules").exists(), "CodeUri is left as it was");
    let again = esb_images::npm::install(&a).unwrap().unwrap();
    assert_eq!(again, modules, "the same manifests: the cached install, npm not run again");
    let calls = std::fs::read_to_string(work.path().join("cache/node_modules/calls")).unwrap_or_default();
    assert_eq!(calls.lines().count(), 1, "{calls}");
    assert!(calls.starts_with("install --omit=dev --ignore-scripts"), "no lock file: npm install: {calls}");

    // A real failure: npm's own words, not a silent skip.
    fake_npm(&bin, "echo 'npm ERR! code ETARGET' >&2; echo 'npm ERR! notarget No matching version for left-pad@99' >&2; exit 1");
    let b = code(work.path(), r#""left-pad": "99", "x": "1""#);
    let e = esb_images::npm::install(&b).unwrap_err().to_string();
    assert!(e.contains("No matching version for left-pad@99"), "{e}");

    // No registry: said once, the build goes on, npm is not asked again.
    fake_npm(&bin, "echo \"$@\" >> ../calls2; echo 'npm ERR! code ENOTFOUND' >&2; exit 1");
    let c = code(work.path(), r#""left-pad": "2", "y": "1", "z": "1""#);
    assert_eq!(esb_images::npm::install(&c).unwrap(), None);
    assert_eq!(esb_images::npm::install(&code(work.path(), r#""q": "3""#)).unwrap(), None);
    let calls = std::fs::read_to_string(work.path().join("cache/node_modules/calls2")).unwrap_or_default();
    assert_eq!(calls.lines().count(), 1, "an unreachable registry is not retried: {calls}");
}
