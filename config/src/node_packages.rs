//! Which of a Node.js code directory's declared packages are not installed: the compile step warns
//! about them, and the image build asks npm for them. One definition, so the warning and the build
//! never disagree.
//!
//! Owns: reading `package.json`'s `dependencies` (never `devDependencies`) against `node_modules`.
//! Must not: install anything.

use std::path::Path;

/// The packages `dir/package.json` declares in `dependencies` that `dir/node_modules` lacks (none
/// when there is no readable package.json).
pub fn missing(dir: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(dir.join("package.json")) else { return vec![] };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else { return vec![] };
    let deps = doc["dependencies"].as_object().map(|d| d.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    deps.into_iter().filter(|d| !dir.join("node_modules").join(d).is_dir()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_declared_packages_that_are_not_shipped_are_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(super::missing(dir.path()).is_empty(), "no package.json");
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"dependencies": {"left-pad": "1", "uuid": "9"}, "devDependencies": {"jest": "1"}}"#,
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("node_modules/uuid")).unwrap();
        assert_eq!(super::missing(dir.path()), ["left-pad"], "devDependencies are never installed");
        std::fs::write(dir.path().join("package.json"), "not json").unwrap();
        assert!(super::missing(dir.path()).is_empty());
    }
}
