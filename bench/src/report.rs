//! Results: rows of samples, summarised as median / p99 / min / max and a ratio against the row
//! that is the baseline of the same measurement in the same run; printed as a table and as JSON.
//! Must not: measure anything.

use serde_json::{json, Value};

/// One measured thing, for one system.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured (`save-to-new-code`, `warm latency c=16`, ...).
    pub measure: String,
    /// The runtime or other variant.
    pub variant: String,
    /// Who did it (`esb watch`, `sam build + restart start-api`, `RIE direct`, ...).
    pub system: String,
    /// Samples, in `unit`.
    pub samples: Vec<f64>,
    pub unit: &'static str,
    /// True for the row the others of the same measure and variant are compared with.
    pub baseline: bool,
    /// Lower is better (latencies) or higher is (throughput).
    pub lower_is_better: bool,
}

/// A measurement that could not be made, and why.
#[derive(Clone, Debug)]
pub struct Skipped {
    pub what: String,
    pub why: String,
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s
}

/// The `q` quantile (0..=1) by nearest rank; NaN for no samples.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let s = sorted(v);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

impl Row {
    pub fn median(&self) -> f64 {
        quantile(&self.samples, 0.5)
    }
}

/// Each row's ratio to its baseline's median (`None` without a baseline).
pub fn ratios(rows: &[Row]) -> Vec<Option<f64>> {
    rows.iter()
        .map(|r| {
            let base = rows.iter().find(|b| b.baseline && b.measure == r.measure && b.variant == r.variant)?;
            Some(r.median() / base.median())
        })
        .collect()
}

/// Rows grouped by measure, then variant (each in order of first appearance), baseline first.
fn grouped(rows: &[Row]) -> Vec<Row> {
    let first = |f: &dyn Fn(&Row) -> bool| rows.iter().position(f).unwrap_or(usize::MAX);
    let mut out = rows.to_vec();
    out.sort_by_key(|r| {
        (first(&|x: &Row| x.measure == r.measure), first(&|x: &Row| x.measure == r.measure && x.variant == r.variant), !r.baseline)
    });
    out
}

/// The table people read.
pub fn table(rows: &[Row], skipped: &[Skipped]) -> String {
    let mut out = String::new();
    let rows = grouped(rows);
    let ratios = ratios(&rows);
    let mut last = String::new();
    for (r, ratio) in rows.iter().zip(ratios) {
        if r.measure != last {
            out.push_str(&format!(
                "\n{} ({}; ratio = median / baseline's median)\n  {:<16} {:<52} {:>9} {:>9} {:>9} {:>8}\n",
                r.measure, r.unit, "variant", "system", "median", "p99", "min", "ratio"
            ));
            last = r.measure.clone();
        }
        let ratio = match ratio {
            Some(x) if r.baseline => format!("{x:.2}x*"),
            Some(x) => format!("{x:.2}x"),
            None => "-".into(),
        };
        out.push_str(&format!(
            "  {:<16} {:<52} {:>9.3} {:>9.3} {:>9.3} {:>8}\n",
            r.variant,
            r.system,
            r.median(),
            quantile(&r.samples, 0.99),
            quantile(&r.samples, 0.0),
            ratio
        ));
    }
    if !rows.is_empty() {
        out.push_str("  (* the baseline)\n");
    }
    for s in skipped {
        out.push_str(&format!("\nnot measured: {}: {}\n", s.what, s.why));
    }
    out
}

/// The same, for machines.
pub fn to_json(rows: &[Row], skipped: &[Skipped], context: Value) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .zip(ratios(rows))
        .map(|(r, ratio)| {
            json!({
                "measure": r.measure, "variant": r.variant, "system": r.system, "unit": r.unit,
                "baseline": r.baseline, "lower_is_better": r.lower_is_better,
                "median": r.median(), "p99": quantile(&r.samples, 0.99),
                "min": quantile(&r.samples, 0.0), "max": quantile(&r.samples, 1.0),
                "ratio_to_baseline": ratio, "samples": r.samples,
            })
        })
        .collect();
    let skipped: Vec<Value> = skipped.iter().map(|s| json!({ "what": s.what, "why": s.why })).collect();
    json!({ "context": context, "results": rows, "not_measured": skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(system: &str, samples: &[f64], baseline: bool) -> Row {
        Row {
            measure: "m".into(),
            variant: "v".into(),
            system: system.into(),
            samples: samples.to_vec(),
            unit: "s",
            baseline,
            lower_is_better: true,
        }
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((quantile(&v, 0.5), quantile(&v, 0.99), quantile(&v, 0.0), quantile(&v, 1.0)), (50.0, 99.0, 1.0, 100.0));
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn ratios_are_against_the_baseline_of_the_same_measure() {
        let rows = [row("sam", &[4.0, 6.0, 8.0], false), row("esb", &[1.0, 2.0, 3.0], true)];
        assert_eq!(grouped(&rows)[0].system, "esb", "the baseline leads its group");
        assert_eq!(ratios(&rows), [Some(3.0), Some(1.0)]);
        let t = table(&rows, &[Skipped { what: "x".into(), why: "y".into() }]);
        assert!(t.contains("3.00x") && t.contains("1.00x*") && t.contains("not measured: x: y"), "{t}");
        let j = to_json(&rows, &[], json!({}));
        assert_eq!(j["results"][0]["ratio_to_baseline"], 3.0);
    }
}
