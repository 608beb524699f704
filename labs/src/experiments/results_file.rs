//! Results files: what every lab writes, versioned, with the machine, the date,
//! N and the commands that produced the numbers.
//!
//! A file is `<out>/<lab>.json`, an envelope around the lab's own data
//! ([`LabData`], one variant per lab). The JSON Schema of these files is
//! generated from the types here (`labs schema`), and the tests validate every
//! lab's output against it.

use std::fs;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabData;
use crate::results::{SCHEMA, now_rfc3339};

/// What can go wrong reading or writing results.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a results file of this version ({SCHEMA}): {reason}")]
    Format { path: PathBuf, reason: String },
}

/// One lab's results. (Not `deny_unknown_fields`, which serde cannot combine
/// with the flattened lab data; the lab's own structs deny unknown fields.)
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LabResults {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The machine id (its description is machine.json in the same folder).
    pub machine: String,
    /// When the lab ran, RFC 3339, UTC.
    pub date: String,
    /// How many measured runs per way (warm-up runs not counted).
    pub runs: u32,
    /// The commands whose behaviour was measured, as a reader would type them.
    pub commands: Vec<String>,
    /// The lab's name and its own data.
    #[serde(flatten)]
    pub data: LabData,
}

impl LabResults {
    /// A results file for `data`, measured now on machine `machine` with `runs`
    /// runs per way, by `commands`.
    pub fn new(machine: &str, runs: u32, commands: Vec<String>, data: LabData) -> LabResults {
        LabResults {
            schema: SCHEMA.to_string(),
            machine: machine.to_string(),
            date: now_rfc3339(),
            runs,
            commands,
            data,
        }
    }

    pub fn lab(&self) -> &'static str {
        self.data.lab()
    }

    /// Writes `<dir>/<lab>.json` atomically: a reader of the folder never sees
    /// half a file, even if the lab is interrupted.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, ResultsError> {
        let path = dir.join(format!("{}.json", self.lab()));
        let io = |source| ResultsError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let mut bytes = serde_json::to_vec_pretty(self).expect("results serialise");
        bytes.push(b'\n');
        runtime::fsutil::write_atomically(&path, &bytes, 0o644).map_err(io)?;
        Ok(path)
    }

    pub fn read(path: &Path) -> Result<LabResults, ResultsError> {
        let bytes = fs::read(path).map_err(|source| ResultsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let format = |reason: String| ResultsError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let results: LabResults =
            serde_json::from_slice(&bytes).map_err(|e| format(e.to_string()))?;
        if results.schema != SCHEMA {
            return Err(format(format!("schema is {:?}", results.schema)));
        }
        Ok(results)
    }
}

/// The JSON Schema of results files, as `labs schema` prints it.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(LabResults)).expect("a schema serialises")
}
