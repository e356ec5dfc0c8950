//! `BuildMethod: esbuild`: a Node.js function's TypeScript or JavaScript bundled on the host by
//! esbuild (Debian's package: `apt install esbuild`; scripts/setup.sh installs it), as `sam build`
//! bundles it. The bundle, not CodeUri, becomes the image's `/var/task`.
//!
//! Owns: the esbuild command line for a function's BuildProperties, and where the bundle goes (a
//! fresh temporary directory per build: esbuild is fast and deterministic, so an unchanged input
//! gives the same bytes, the same build context hash, and no image rebuild).
//! Must not: fetch anything (`--bundle` resolves imports from node_modules in CodeUri only).

use crate::ImageError;
use esb_config::model::Build;
use std::path::Path;
use std::process::Command;

/// The esbuild arguments for `build`, for Node.js `node_major` (the default target).
pub fn arguments(build: &Build, node_major: &str, outdir: &Path) -> Vec<String> {
    let Build::Esbuild { entry_points, target, format, sourcemap, minify, external, out_extension } = build else {
        return vec![];
    };
    let mut args: Vec<String> = entry_points.clone();
    args.extend(["--bundle".into(), "--platform=node".into(), format!("--outdir={}", outdir.display())]);
    args.push(format!("--target={}", target.clone().unwrap_or_else(|| format!("node{node_major}"))));
    args.push(format!("--format={}", format.clone().unwrap_or_else(|| "cjs".into())));
    if *sourcemap {
        args.push("--sourcemap".into());
    }
    if *minify {
        args.push("--minify".into());
    }
    args.extend(external.iter().map(|e| format!("--external:{e}")));
    args.extend(out_extension.iter().map(|e| format!("--out-extension:{e}")));
    args
}

/// Bundles the function in `code_dir` into `outdir`.
pub fn bundle(function: &str, code_dir: &Path, build: &Build, node_major: &str, outdir: &Path) -> Result<(), ImageError> {
    let args = arguments(build, node_major, outdir);
    let output = Command::new("esbuild").args(&args).current_dir(code_dir).output().map_err(|e| ImageError::Tool {
        tool: "esbuild".into(),
        reason: format!("function {function} has BuildMethod esbuild, and esbuild cannot be run: {e}"),
        output: Some("install it: `apt install esbuild` (scripts/setup.sh does)".into()),
    })?;
    if !output.status.success() {
        return Err(ImageError::Tool {
            tool: "esbuild".into(),
            reason: format!("bundling function {function} failed (esbuild {})", args.join(" ")),
            output: Some(crate::tail(&String::from_utf8_lossy(&output.stderr), 20)),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_properties_become_esbuild_flags() {
        let b = Build::Esbuild {
            entry_points: vec!["app.ts".into()],
            target: None,
            format: Some("esm".into()),
            sourcemap: true,
            minify: true,
            external: vec!["@aws-sdk/*".into()],
            out_extension: vec![".js=.mjs".into()],
        };
        let args = arguments(&b, "24", Path::new("/out"));
        assert_eq!(
            args,
            [
                "app.ts",
                "--bundle",
                "--platform=node",
                "--outdir=/out",
                "--target=node24",
                "--format=esm",
                "--sourcemap",
                "--minify",
                "--external:@aws-sdk/*",
                "--out-extension:.js=.mjs"
            ]
        );
    }
}
