//! Template discovery.
//!
//! Owns: the order in which esb looks for the SAM template: `--template`, `ESB_TEMPLATE`,
//! `./template.yaml`, the project root's template (the nearest ancestor holding generator.yml, whose
//! `paths.sam_template` wins, or `.git`), then `tests/fixtures/template.yaml`. An explicit path
//! that does not exist is an error, never silently skipped. Must not: parse templates.

use crate::error::ConfigError;
use crate::generator::{Generator, FILE_NAME};
use std::path::{Path, PathBuf};

/// Inputs to discovery; `env` is `ESB_TEMPLATE`, passed in so tests need no process environment.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// `--template`.
    pub flag: Option<PathBuf>,
    /// `ESB_TEMPLATE`.
    pub env: Option<PathBuf>,
    /// The working directory.
    pub cwd: PathBuf,
}

impl Discovery {
    /// Finds the template.
    pub fn find(&self) -> Result<PathBuf, ConfigError> {
        for (given, source) in [(&self.flag, "--template"), (&self.env, "ESB_TEMPLATE")] {
            if let Some(p) = given {
                let p = self.cwd.join(p);
                let p = if p.is_dir() { p.join("template.yaml") } else { p };
                return if p.is_file() {
                    Ok(p)
                } else {
                    Err(ConfigError::TemplateNotFound { tried: vec![PathBuf::from(format!("{} (from {source})", p.display()))] })
                };
            }
        }
        let mut tried = vec![];
        let mut candidates = vec![self.cwd.join("template.yaml"), self.cwd.join("template.yml")];
        if let Some(root) = project_root(&self.cwd) {
            if let Ok(Some(g)) = Generator::load(&root.join(FILE_NAME)) {
                candidates.push(root.join(&g.paths.sam_template));
            }
            candidates.push(root.join("template.yaml"));
            candidates.push(root.join("tests/fixtures/template.yaml"));
        }
        candidates.push(self.cwd.join("tests/fixtures/template.yaml"));
        for c in candidates {
            if c.is_file() {
                return Ok(c);
            }
            if !tried.contains(&c) {
                tried.push(c);
            }
        }
        Err(ConfigError::TemplateNotFound { tried })
    }
}

/// The nearest ancestor (or `start` itself) holding generator.yml, else the nearest holding `.git`.
pub fn project_root(start: &Path) -> Option<PathBuf> {
    let ancestors: Vec<&Path> = start.ancestors().collect();
    ancestors
        .iter()
        .find(|d| d.join(FILE_NAME).is_file())
        .or_else(|| ancestors.iter().find(|d| d.join(".git").exists()))
        .map(|d| d.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "Resources: {}\n").unwrap();
    }

    #[test]
    fn order_is_flag_env_cwd_root_fixtures() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        let sub = root.join("src/deep");
        std::fs::create_dir_all(&sub).unwrap();
        touch(&root.join("tests/fixtures/template.yaml"));
        let d = |flag: Option<&str>, env: Option<&str>, cwd: &Path| Discovery {
            flag: flag.map(PathBuf::from),
            env: env.map(PathBuf::from),
            cwd: cwd.to_path_buf(),
        };

        assert_eq!(d(None, None, &sub).find().unwrap(), root.join("tests/fixtures/template.yaml"));
        touch(&root.join("template.yaml"));
        assert_eq!(d(None, None, &sub).find().unwrap(), root.join("template.yaml"));
        touch(&sub.join("template.yaml"));
        assert_eq!(d(None, None, &sub).find().unwrap(), sub.join("template.yaml"));
        touch(&root.join("other.yaml"));
        assert_eq!(d(None, Some("../../other.yaml"), &sub).find().unwrap(), sub.join("../../other.yaml"));
        assert_eq!(d(Some("../../template.yaml"), Some("../../other.yaml"), &sub).find().unwrap(), sub.join("../../template.yaml"));
    }

    #[test]
    fn an_explicit_path_that_is_missing_is_an_error_naming_its_source() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("template.yaml"));
        let e = Discovery { flag: None, env: Some("nope.yaml".into()), cwd: dir.path().into() }.find().unwrap_err();
        assert!(e.to_string().contains("ESB_TEMPLATE"), "{e}");
    }

    #[test]
    fn generator_yml_names_the_template_of_its_project() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(&root.join("infra/sam.yaml"));
        std::fs::write(root.join(FILE_NAME), "app: {name: p}\npaths: {sam_template: infra/sam.yaml}\n").unwrap();
        std::fs::create_dir_all(root.join("x")).unwrap();
        let found = Discovery { cwd: root.join("x"), ..Default::default() }.find().unwrap();
        assert_eq!(found, root.join("infra/sam.yaml"));
    }
}
