//! SAM CLI's environment variables file (`-n env.json`, `--env-vars`): per-function variables by
//! logical id (or FunctionName), and `Parameters` for every function, over the template's.
//!
//! Owns: reading the file (a JSON object of objects; values strings, numbers or booleans) and
//! applying it to a compiled project. Applied by `invoke`, `serve`, `up` and `watch` (at start and
//! at every reload), after the template, before anything is built or started.
//! Must not: write the file or change the template.

use esb_config::Project;
use std::collections::BTreeMap;
use std::path::Path;

/// The file's content: `Parameters` (every function), then each function's own.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct EnvVars {
    all: BTreeMap<String, String>,
    functions: BTreeMap<String, BTreeMap<String, String>>,
}

/// Reads `path`; an error names the file and, for JSON syntax, the line.
pub(super) fn load(path: &Path) -> anyhow::Result<EnvVars> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading the env-vars file {}: {e}", path.display()))?;
    parse(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}\n  hint: SAM's format: {{\"MyFunction\": {{\"TABLE\": \"t\"}}, \"Parameters\": {{\"STAGE\": \"dev\"}}}}",
            path.display()
        )
    })
}

fn parse(text: &str) -> Result<EnvVars, String> {
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("line {}: {e}", e.line()))?;
    let top = doc.as_object().ok_or("the file must hold a JSON object of function names")?;
    let mut out = EnvVars::default();
    for (key, vars) in top {
        let vars = vars.as_object().ok_or_else(|| format!("`{key}` must be an object of NAME: value"))?;
        let mut map = BTreeMap::new();
        for (name, value) in vars {
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return Err(format!("`{key}.{name}` must be a string, number or boolean")),
            };
            map.insert(name.clone(), value);
        }
        if key == "Parameters" {
            out.all = map;
        } else {
            out.functions.insert(key.clone(), map);
        }
    }
    Ok(out)
}

/// Sets the variables on `project`'s functions; returns a warning per key naming no function.
pub(super) fn apply(project: &mut Project, vars: &EnvVars) -> Vec<String> {
    let mut used = std::collections::BTreeSet::new();
    for (id, spec) in project.functions.functions.iter_mut() {
        spec.environment.extend(vars.all.iter().map(|(k, v)| (k.clone(), v.clone())));
        for key in [id.as_str(), spec.function_name.as_str()] {
            if let Some(own) = vars.functions.get(key) {
                spec.environment.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
                used.insert(key.to_string());
            }
        }
    }
    vars.functions
        .keys()
        .filter(|k| !used.contains(*k))
        .map(|k| format!("the env-vars file names `{k}`, which is no function of the template; ignored"))
        .collect()
}

/// [`load`] and [`apply`] when `path` is given.
pub(super) fn apply_file(project: &mut Project, path: Option<&Path>) -> anyhow::Result<Vec<String>> {
    match path {
        Some(p) => Ok(apply(project, &load(p)?)),
        None => Ok(vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reads_as_sam_writes_it_and_names_its_mistakes() {
        let v = parse(r#"{"Parameters": {"STAGE": "dev", "N": 3}, "Hello": {"TABLE": "t", "ON": true}}"#).unwrap();
        assert_eq!(v.all["N"], "3");
        assert_eq!(v.functions["Hello"]["ON"], "true");
        assert!(parse("{\n  \"Hello\": {\"A\": [1]}\n}").unwrap_err().contains("`Hello.A` must be a string"));
        assert!(parse("{\n  \"Hello\": \n}").unwrap_err().starts_with("line 3"));
        assert!(parse("[]").is_err());
    }
}
