//! Base images per runtime: how long `esb build` of one function takes when its base must be made
//! from nothing (debootstrap of the suite, the root filesystem imported, the base built), when the
//! suite's root filesystem tarball is cached (imported and the base built), and when the suite's
//! root filesystem image is already there because the suite's other runtime made it (only the
//! base built: Python and Node.js share one per suite); and each base's size.
//!
//! Destructive for the engine's base images and the suites' cached tarballs (it makes them again):
//! run it on a bench machine, never beside a test run. Baseline: the cached-tarball build.
//! Must not: leave its projects' function images behind.

use crate::report::Row;
use esb_config::runtimes::{Suite, SUITES};
use std::process::Command;
use std::time::Instant;

const MEASURE: &str = "base image build (esb build of one function)";

fn row(variant: &str, system: &str, seconds: f64, baseline: bool) -> Row {
    Row {
        measure: MEASURE.into(),
        variant: variant.into(),
        system: system.into(),
        samples: vec![seconds],
        unit: "seconds",
        baseline,
        lower_is_better: true,
    }
}

fn docker(args: &[&str]) -> String {
    Command::new("docker").args(args).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// Removes the suite's root filesystem image and its bases (and, `tarball`, the cached tarball).
fn clear(suite: &Suite, tarball: bool) {
    let mut refs = vec![format!("esb/base-python:{}", suite.python), format!("esb/base-nodejs:{}", suite.node)];
    refs.extend(
        docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", "esb/rootfs"])
            .lines()
            .filter(|r| r.contains(&format!(":{}-", suite.name)))
            .map(str::to_string),
    );
    for r in refs {
        docker(&["rmi", "-f", &r]);
    }
    if tarball {
        let _ = std::fs::remove_file(esb_images::rootfs::tarball_path(suite, esb_images::rootfs::Flavour::Interpreters));
    }
}

/// `esb build` of a project with one `runtime` function; seconds.
fn build_one(esb_bin: &str, runtime: &str) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let name = format!("benchbase{}{}", std::process::id(), runtime.replace('.', ""));
    let (file, code, handler) = if runtime.starts_with("python") {
        ("app.py", "def handler(e, c):\n    return 1\n", "app.handler")
    } else {
        ("app.mjs", "export const handler = async () => 1;\n", "app.handler")
    };
    std::fs::create_dir_all(dir.path().join("f")).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("f").join(file), code).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("generator.yml"), format!("app:\n  name: {name}\npaths:\n  sam_template: template.yaml\n"))
        .map_err(|e| e.to_string())?;
    std::fs::write(
        dir.path().join("template.yaml"),
        format!("Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {{CodeUri: f/, Handler: {handler}, Runtime: {runtime}}}\n"),
    )
    .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let out = Command::new(esb_bin).arg("build").current_dir(dir.path()).output().map_err(|e| e.to_string())?;
    let took = t.elapsed().as_secs_f64();
    for image in docker(&["images", "--format", "{{.Repository}}:{{.Tag}}", &format!("esb-{name}/*")]).lines() {
        docker(&["rmi", "-f", image]);
    }
    if !out.status.success() {
        return Err(format!("esb build of a {runtime} function failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(took)
}

fn size_mib(reference: &str) -> Option<f64> {
    docker(&["image", "inspect", "--format", "{{.Size}}", reference]).trim().parse::<f64>().ok().map(|b| b / (1024.0 * 1024.0))
}

/// Every suite's Python and Node.js base: cold, from the cached tarball, and on a shared root
/// filesystem; then their sizes.
pub fn esb(esb_bin: &str) -> Result<Vec<Row>, String> {
    let mut rows = vec![];
    for suite in SUITES {
        let (py, node) = (format!("python{}", suite.python), format!("nodejs{}.x", suite.node));
        let (pyv, nodev) = (format!("{py} ({})", suite.name), format!("{node} ({})", suite.name));
        eprintln!("esb-bench: {} bases from nothing", suite.name);
        clear(suite, true);
        rows.push(row(&pyv, "from nothing (debootstrap + import + base)", build_one(esb_bin, &py)?, false));
        rows.push(row(&nodev, "root filesystem shared with the suite's Python base", build_one(esb_bin, &node)?, false));
        clear(suite, false);
        rows.push(row(&pyv, "cached root filesystem tarball (import + base)", build_one(esb_bin, &py)?, true));
        clear(suite, false);
        rows.push(row(&nodev, "cached root filesystem tarball (import + base)", build_one(esb_bin, &node)?, true));
        build_one(esb_bin, &py)?;
        for (variant, reference) in
            [(&pyv, format!("esb/base-python:{}", suite.python)), (&nodev, format!("esb/base-nodejs:{}", suite.node))]
        {
            if let Some(mib) = size_mib(&reference) {
                rows.push(Row {
                    measure: "base image size".into(),
                    variant: variant.clone(),
                    system: reference,
                    samples: vec![mib],
                    unit: "MiB",
                    baseline: true,
                    lower_is_better: true,
                });
            }
        }
    }
    Ok(rows)
}
