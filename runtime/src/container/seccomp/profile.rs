//! Docker's seccomp profile format: the JSON that `--security-opt seccomp=FILE`
//! reads, and the shape peti's own default profile takes.
//!
//! A profile is a default action and a list of rules. Each rule names system
//! calls, an action, and optionally conditions on their arguments (all must
//! hold) and a gate: `includes` (apply only if the container has these
//! capabilities, runs on these architectures, on at least this kernel) and
//! `excludes` (skip if it has these). What the format says and what peti does
//! with the parts it does not do are in [`super`].

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Text of a profile: borrowed for the built-in default (no allocation per
/// name on the start path), owned for a profile read from a file.
pub type Text = Cow<'static, str>;

/// One profile, as Docker's `types.Seccomp` spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// The architectures the filter accepts; peti's filter accepts only the
    /// host's own (see [`super`]), so this is read and not used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<Text>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

/// One rule: these system calls get this action, if the conditions hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub names: Vec<Text>,
    /// The older, single-name form of `names`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    pub action: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "Gate::is_empty")]
    pub includes: Gate,
    #[serde(default, skip_serializing_if = "Gate::is_empty")]
    pub excludes: Gate,
}

/// A condition on one argument: `op` compares argument `index` with `value`
/// (for SCMP_CMP_MASKED_EQ: `(arg & value) == value_two`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u8,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: Text,
}

/// Who a rule applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<Text>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<Text>,
}

impl Gate {
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

impl Rule {
    /// Every name the rule gives, in either form.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .map(|n| n.as_ref())
            .chain(self.name.as_deref())
    }
}
