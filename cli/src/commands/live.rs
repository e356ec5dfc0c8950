//! Live code for `esb watch`: a function's CodeUri is bind-mounted read-only at `/var/task`, so a
//! saved change needs no image build, only new containers.
//!
//! Owns: which functions run live (a code directory; when the image holds packages the directory
//! does not, a Python `requirements.txt` or npm-installed node_modules in `/var/task`, its entries
//! are mounted one by one so none hides them), what is mounted
//! (only what an image build would copy: with `CodeUri: .` the project root holds esb's output dir
//! with its secrets, `.git`, the template; those are never mounted, issue 19), the hash that stands
//! for a live function's code (the build context's hash: the bytes an image build would use), and
//! recognising a batch of changes that touches only live code. Must not: build images, or talk to
//! the manager (the reload driver does both).
//!
//! Why: on Docker's classic builder every Dockerfile step is a committed layer, seconds each on
//! slow storage drivers (fuse-overlayfs here: about 2 s a step), so a rebuild costs far more than
//! the new container. The image is still rebuilt, with the code baked in, on the next full reload
//! and by every `esb build` / `serve` / `up`; what runs in production is always a baked image.

use esb_config::model::{BaseImage, Code, FunctionSpec};
use esb_config::Workspace;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where a live function's code is mounted.
const TASK_ROOT: &str = "/var/task";

/// A function whose code runs from the project directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Live {
    /// The CodeUri directory, absolute.
    pub dir: PathBuf,
    /// The build context's hash (code, layers, the generated Dockerfile).
    pub hash: String,
    /// `None`: the whole directory is mounted; `Some`: it holds things never mounted, so only
    /// these top-level entries are, one bind each.
    pub entries: Option<Vec<String>>,
}

impl Live {
    /// The container binds (`host:container:ro`).
    pub fn binds(&self) -> Vec<String> {
        match &self.entries {
            None => vec![format!("{}:{TASK_ROOT}:ro", self.dir.display())],
            Some(names) => names.iter().map(|n| format!("{}:{TASK_ROOT}/{n}:ro", self.dir.join(n).display())).collect(),
        }
    }
}

/// What a live mount of `dir` must leave out: the names an image build skips, esb's output dir,
/// the template and generator.yml. `Ok(None)`: nothing to leave out, mount `dir` whole;
/// `Ok(Some(entries))`: mount these top-level entries; `Err(())`: the output dir sits deeper
/// inside an entry, so no mount can leave it out (the function runs from its image instead).
fn mount_entries(dir: &Path, never: &[PathBuf]) -> Result<Option<Vec<String>>, ()> {
    let mut entries: Vec<String> =
        std::fs::read_dir(dir).map_err(|_| ())?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    entries.sort();
    let before = entries.len();
    entries.retain(|n| !esb_images::context::EXCLUDED.contains(&n.as_str()) && !never.iter().any(|p| p == &dir.join(n)));
    if never.iter().any(|p| p.starts_with(dir) && p.parent() != Some(dir) && entries.iter().any(|n| p.starts_with(dir.join(n)))) {
        return Err(());
    }
    Ok((entries.len() != before).then_some(entries))
}

/// The top-level entries of `dir` an image build copies, sorted.
fn code_entries(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut entries: Vec<String> = std::fs::read_dir(dir)?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    entries.retain(|n| !esb_images::context::EXCLUDED.contains(&n.as_str()));
    entries.sort();
    Ok(entries)
}

/// Paths never mounted into a function: esb's output dir, the template, generator.yml.
pub(super) fn never_code(ws: &Workspace) -> Vec<PathBuf> {
    [&ws.output_dir, &ws.template, &ws.generator_path].into_iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())).collect()
}

/// True when a Python function's CodeUri has a non-empty `requirements.txt`.
fn has_requirements(dir: &Path) -> bool {
    std::fs::read(dir.join("requirements.txt")).is_ok_and(|t| !t.iter().all(u8::is_ascii_whitespace))
}

/// The template's directory (CodeUri is relative to it).
pub(super) fn project_root(ws: &Workspace) -> &Path {
    ws.template.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// `Some` when `spec` can run live; its code's current hash. `None` for inline code, code with a
/// build step (esbuild, cargo, make: the image holds what it built, not CodeUri), a custom
/// runtime's `bootstrap` (a running container holds the file open, so a build tool replacing it
/// in place fails with `Text file busy`; its image builds in about a second), Java (a JVM loads
/// its classes once, at start, so a swapped class file is never seen), or a directory that
/// cannot be read (the image build reports that).
pub(super) fn live(ws: &Workspace, id: &str, spec: &FunctionSpec) -> Option<Live> {
    let Code::Dir { path } = &spec.code else { return None };
    if spec.build.is_some() || matches!(spec.base, BaseImage::Provided | BaseImage::ProvidedGlibc | BaseImage::Java { .. }) {
        return None;
    }
    let dir = std::fs::canonicalize(project_root(ws).join(path)).ok()?;
    let mut entries = mount_entries(&dir, &never_code(ws)).ok()?;
    let installs = match spec.base {
        BaseImage::Python { .. } => has_requirements(&dir),
        // npm installed packages into the image's /var/task/node_modules.
        BaseImage::Node { .. } => esb_images::npm::installs(&dir),
        _ => false,
    };
    if entries.is_none() && installs {
        // The packages are installed into the image's /var/task: the code's entries are mounted
        // over it one by one, never the whole directory, which would hide them. Saving code then
        // reinstalls nothing (issue 20: 3.5 s instead of 0.5 s); a requirements.txt change is a
        // rebuild ([`code_only`]).
        entries = Some(code_entries(&dir).ok()?);
    }
    let inputs = esb_images::function::Inputs { root: project_root(ws), output_dir: &ws.output_dir, project: &ws.settings.project };
    let context = esb_images::function::assemble(&inputs, id, spec, &|_| {}).ok()?;
    Some(Live { dir, hash: esb_images::cache::sha256(&context)[..16].to_string(), entries })
}

/// Files whose change reinstalls dependencies: a rebuild, never a live code swap.
const DEPENDENCY_MANIFESTS: &[&str] = &["requirements.txt", "package.json", "package-lock.json"];

/// The live functions a batch of changed paths touches, when it touches nothing else (a template,
/// generator.yml, a requirements file or a layer means a full reload). `never` are the paths that
/// are never code wherever they sit ([`never_code`]): with `CodeUri: .` the template is inside the
/// code directory, and a changed Handler must reach the function (issue 19).
pub(super) fn code_only(batch: &[PathBuf], lives: &BTreeMap<String, Live>, never: &[PathBuf]) -> Option<BTreeSet<String>> {
    let mut touched = BTreeSet::new();
    for path in batch {
        let manifest = path.file_name().is_some_and(|n| DEPENDENCY_MANIFESTS.iter().any(|m| n == *m));
        if manifest || never.iter().any(|n| path.starts_with(n)) {
            return None;
        }
        let owners: Vec<&String> = lives.iter().filter(|(_, l)| path.starts_with(&l.dir)).map(|(id, _)| id).collect();
        if owners.is_empty() {
            return None;
        }
        touched.extend(owners.into_iter().cloned());
    }
    (!touched.is_empty()).then_some(touched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lives() -> BTreeMap<String, Live> {
        [("Hello", "/p/hello"), ("Shared", "/p/shared"), ("Also", "/p/shared")]
            .into_iter()
            .map(|(id, d)| (id.to_string(), Live { dir: PathBuf::from(d), hash: "h".into(), entries: None }))
            .collect()
    }

    #[test]
    fn code_only_batches_name_the_functions_they_touch() {
        let got = code_only(&[PathBuf::from("/p/hello/app.py"), PathBuf::from("/p/hello/lib/x.py")], &lives(), &[]).unwrap();
        assert_eq!(got.into_iter().collect::<Vec<_>>(), ["Hello"]);
        // Two functions sharing a CodeUri both get new containers.
        let got = code_only(&[PathBuf::from("/p/shared/a.py")], &lives(), &[]).unwrap();
        assert_eq!(got.into_iter().collect::<Vec<_>>(), ["Also", "Shared"]);
    }

    #[test]
    fn anything_else_is_a_full_reload() {
        for other in [
            "/p/template.yaml",
            "/p/generator.yml",
            "/p/hello/requirements.txt",
            "/p/hello/package.json",
            "/p/layers/x.py",
            "/p/hello2/app.py",
        ] {
            assert_eq!(code_only(&[PathBuf::from("/p/hello/app.py"), PathBuf::from(other)], &lives(), &[]), None, "{other}");
        }
        assert_eq!(code_only(&[], &lives(), &[]), None);
    }

    #[test]
    fn with_codeuri_dot_the_template_is_never_code() {
        let lives: BTreeMap<String, Live> =
            [("Hello".to_string(), Live { dir: PathBuf::from("/p"), hash: "h".into(), entries: None })].into();
        let never = [PathBuf::from("/p/template.yaml"), PathBuf::from("/p/generator.yml"), PathBuf::from("/p/.esb")];
        assert!(code_only(&[PathBuf::from("/p/app.py")], &lives, &never).is_some());
        for p in ["/p/template.yaml", "/p/generator.yml", "/p/.esb/config/functions.yml"] {
            assert_eq!(code_only(&[PathBuf::from("/p/app.py"), PathBuf::from(p)], &lives, &never), None, "{p}: a full reload");
        }
    }

    #[test]
    fn a_project_root_is_mounted_without_secrets_git_or_the_template() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for d in [".esb/secrets", ".git", "lib"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in ["app.py", "template.yaml", "generator.yml", ".esb/secrets/admin-password"] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let never = [root.join(".esb"), root.join("template.yaml"), root.join("generator.yml")];
        let entries = mount_entries(&root, &never).unwrap().unwrap();
        assert_eq!(entries, ["app.py", "lib"]);
        let live = Live { dir: root.clone(), hash: "h".into(), entries: Some(entries) };
        assert_eq!(
            live.binds(),
            [format!("{}:/var/task/app.py:ro", root.join("app.py").display()), format!("{}:/var/task/lib:ro", root.join("lib").display())]
        );
        assert!(live.binds().iter().all(|b| !b.contains(".esb") && !b.contains(".git") && !b.contains("template")));
        // A code directory with nothing to leave out is mounted whole.
        assert_eq!(mount_entries(&root.join("lib"), &never), Ok(None));
        // The output dir deeper inside a mounted entry: no live mount at all.
        assert_eq!(mount_entries(&root, &[root.join("lib/out")]), Err(()));
    }

    #[test]
    fn requirements_are_found_only_when_they_name_something() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_requirements(dir.path()));
        std::fs::write(dir.path().join("requirements.txt"), "\n  \n").unwrap();
        assert!(!has_requirements(dir.path()));
        std::fs::write(dir.path().join("requirements.txt"), "requests\n").unwrap();
        assert!(has_requirements(dir.path()));
    }
}
