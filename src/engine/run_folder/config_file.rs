//! `config.json`: `{"format_version": 1, "config": RunConfig, "info": {...}}`.
//!
//! The reader also accepts the two older forms (a bare `RunConfig`, and `{config, info}`
//! without a version). Parsing is strict: an unknown field is an error naming the field, the
//! line and the nearest known name.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::config::RunConfig;

use super::RunFolderError;

/// The version of the run-folder format this build writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 1;

/// What the program knew about a run beyond its configuration (informative; a rerun needs
/// only `config`). Every field is optional when read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    pub program: String,
    pub version: String,
    /// e.g. `fc-tanh 64-64-64-10 (bias)`.
    pub network: String,
    pub parameters: usize,
    pub dataset: String,
    pub dataset_notes: Vec<String>,
    pub train_samples: usize,
    pub test_samples: usize,
    pub threads: usize,
}

#[derive(Serialize)]
struct ConfigFileOut<'a> {
    format_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a RunConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<&'a RunInfo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFileIn {
    #[serde(default)]
    format_version: Option<u32>,
    #[serde(default)]
    config: Option<RunConfig>,
    #[serde(default)]
    info: Option<RunInfo>,
}

/// The bytes of `config.json`.
pub fn to_json(config: Option<&RunConfig>, info: Option<&RunInfo>) -> Vec<u8> {
    let v = ConfigFileOut {
        format_version: FORMAT_VERSION,
        config,
        info,
    };
    let mut b = serde_json::to_vec_pretty(&v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// A parsed `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigFile {
    pub format_version: u32,
    pub config: Option<RunConfig>,
    pub info: Option<RunInfo>,
}

/// Levenshtein distance (for did-you-mean).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The nearest of `names` to `word`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, names: &[&'a str]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (distance(word, n), *n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 3))
        .min()
        .map(|(_, n)| n)
}

/// Turn a serde error into a message with the line and, for an unknown field, the nearest
/// known name.
fn explain(e: &serde_json::Error, names: &[&str]) -> String {
    let msg = e.to_string();
    let mut out = msg
        .split(" at line ")
        .next()
        .unwrap_or(&msg)
        .split(", expected one of")
        .next()
        .unwrap_or(&msg)
        .to_string();
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some(field) = rest.split('`').next()
    {
        match did_you_mean(field, names) {
            Some(n) => out += &format!(" (did you mean `{n}`?)"),
            None => out += &format!(" (the fields are {})", names.join(", ")),
        }
    }
    if e.line() > 0 {
        out += &format!(" at line {}, column {}", e.line(), e.column());
    }
    out
}

/// Parse the text of a `config.json` in any of its forms.
pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, RunFolderError> {
    let bad = |message: String| RunFolderError::Config {
        path: path.to_path_buf(),
        message,
    };
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "not valid JSON: {}",
            explain(&e, &[]) // the line and column of the syntax error
        ))
    })?;
    let Some(obj) = v.as_object() else {
        return Err(bad("expected a JSON object".into()));
    };
    let wrapped = obj.contains_key("config")
        || obj.contains_key("format_version")
        || obj.contains_key("info");
    if wrapped {
        let mut names = vec!["format_version", "config", "info"];
        names.extend_from_slice(RunConfig::FIELDS);
        let f: ConfigFileIn = serde_json::from_str(text).map_err(|e| bad(explain(&e, &names)))?;
        let version = f.format_version.unwrap_or(0);
        if version > FORMAT_VERSION {
            return Err(bad(format!(
                "format_version {version} was written by a newer eos-explorer; this version reads up to {FORMAT_VERSION}: update eos-explorer"
            )));
        }
        Ok(ConfigFile {
            format_version: version,
            config: f.config,
            info: f.info,
        })
    } else {
        let config: RunConfig =
            serde_json::from_str(text).map_err(|e| bad(explain(&e, RunConfig::FIELDS)))?;
        Ok(ConfigFile {
            format_version: 0,
            config: Some(config),
            info: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_reads_and_typos_are_named() {
        let cfg = RunConfig::default();
        let p = Path::new("config.json");
        let new = String::from_utf8(to_json(Some(&cfg), Some(&RunInfo::default()))).expect("utf8");
        assert_eq!(parse(p, &new).expect("v1").config.as_ref(), Some(&cfg));
        let bare = serde_json::to_string_pretty(&cfg).expect("json");
        assert_eq!(parse(p, &bare).expect("bare").config, Some(cfg.clone()));
        let old = format!("{{\"config\": {bare}, \"info\": {{\"program\": \"x\"}}}}");
        assert_eq!(parse(p, &old).expect("old").format_version, 0);
        let typo = bare.replace("\"acc_goal\"", "\"acc_gaol\"");
        let e = parse(p, &typo).expect_err("typo").to_string();
        assert!(
            e.contains("acc_gaol") && e.contains("did you mean `acc_goal`"),
            "{e}"
        );
        assert!(e.contains("line "), "{e}");
        let newer = new.replace("\"format_version\": 1", "\"format_version\": 9");
        assert!(
            parse(p, &newer)
                .expect_err("newer")
                .to_string()
                .contains("newer")
        );
    }
}
