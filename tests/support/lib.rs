//! Support for esb's end-to-end and golden tests.
//!
//! Owns: locating the example project (`tests/fixtures`), copying it into a temp dir so a test can
//! change it freely, and comparing a generated tree with a golden tree (`ESB_UPDATE_GOLDEN=1`
//! rewrites the golden files instead). Must not: hide failures; every helper panics with the reason.
#![forbid(unsafe_code)]

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
    dir
}

fn copy_tree(from: &Path, to: &Path) {
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

/// Asserts that `actual` holds exactly the files of `golden`, byte for byte.
/// With `ESB_UPDATE_GOLDEN=1` the golden tree is replaced by `actual` instead.
pub fn assert_golden(actual: &Path, golden: &Path) {
    if std::env::var_os("ESB_UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(golden);
        copy_tree(actual, golden);
        return;
    }
    let (have, want) = (files_under(actual), files_under(golden));
    assert_eq!(have, want, "generated file set differs from {} (ESB_UPDATE_GOLDEN=1 to accept)", golden.display());
    for rel in want {
        let (a, g) = (std::fs::read_to_string(actual.join(&rel)).expect("read"), std::fs::read_to_string(golden.join(&rel)).expect("read"));
        assert!(a == g, "{rel} differs from its golden file (ESB_UPDATE_GOLDEN=1 to accept):\n--- golden\n{g}\n--- generated\n{a}");
    }
}
