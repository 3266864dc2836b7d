//! The motif grammar: which residual class each motif watches, with what parameters.
//!
//! The default grammar is dsfb-database 0.1.1's five motifs with their published
//! parameters. A TOML file may replace it or extend it:
//!
//! ```toml
//! extend_defaults = false        # true: keep the five default motifs and add these
//!
//! [[motif]]
//! name = "slow_checkout"
//! class = "plan_regression"
//! rho = 0.9
//! sigma0 = 0.05
//! drift_threshold = 0.2
//! slew_threshold = 0.5
//! min_dwell_seconds = 5
//! ```
//!
//! Several motifs may watch the same class; each then keeps its own per-channel state.

use serde::Deserialize;
use std::fmt;

/// Index of a motif in [`Grammar::motifs`].
pub type MotifId = u16;

/// Most motifs a grammar may hold (ids are `u16`, labels must stay bounded).
pub const MAX_MOTIFS: usize = 1024;

/// The parameters of one motif's observer and dwell state machine.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotifParams {
    /// EMA smoothing factor of |residual|, in (0, 1).
    pub rho: f64,
    /// Trust softness: raw trust weight is `1 / (sigma0 + ema)`; > 0.
    pub sigma0: f64,
    /// Smoothed |residual| at or above this is `Drift`; >= 0.
    pub drift_threshold: f64,
    /// Instantaneous |residual| at or above this is `Boundary`; >= 0.
    pub slew_threshold: f64,
    /// Seconds the residual must stay `Stable` before an episode closes; >= 0.
    pub min_dwell_seconds: f64,
}

/// One motif: a name (the `motif` label) bound to a residual class.
#[derive(Debug, Clone, PartialEq)]
pub struct MotifSpec {
    /// Motif name, e.g. `plan_regression_onset`.
    pub name: String,
    /// Residual class it watches, e.g. `plan_regression`.
    pub class: String,
    /// Observer and state-machine parameters.
    pub params: MotifParams,
}

/// A validated grammar with its class table.
#[derive(Debug, Clone, PartialEq)]
pub struct Grammar {
    motifs: Vec<MotifSpec>,
    classes: Vec<String>,
    /// `class_motifs[class_id]`: the motifs watching that class, in grammar order.
    class_motifs: Vec<Vec<MotifId>>,
}

/// Why a grammar was refused. The message always names the motif and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrammarError {
    /// The TOML itself does not parse, or has an unknown or mistyped key.
    Syntax(String),
    /// A motif parameter is out of range.
    Invalid {
        /// Motif name (or `#N` when the name itself is the problem).
        motif: String,
        /// The offending key.
        key: &'static str,
        /// What the key must satisfy.
        rule: String,
    },
    /// Two motifs share a name.
    DuplicateMotif(String),
    /// The grammar holds no motif at all.
    Empty,
    /// More than [`MAX_MOTIFS`] motifs.
    TooMany(usize),
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(msg) => write!(f, "grammar: {msg}"),
            Self::Invalid { motif, key, rule } => {
                write!(f, "grammar: motif {motif:?}: {key} {rule}")
            }
            Self::DuplicateMotif(name) => write!(f, "grammar: duplicate motif {name:?}"),
            Self::Empty => write!(f, "grammar: no motif defined (add at least one [[motif]])"),
            Self::TooMany(n) => write!(f, "grammar: {n} motifs, at most {MAX_MOTIFS} allowed"),
        }
    }
}

impl std::error::Error for GrammarError {}

/// A TOML error as `line L, column C: message`, without the offending line
/// itself: a grammar path given by mistake (`--grammar /etc/shadow`) must not
/// have its content echoed into a log.
fn syntax_error(text: &str, e: &toml::de::Error) -> GrammarError {
    let at = match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = before.len()
                - before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1)
                + 1;
            format!("line {line}, column {column}: ")
        }
        None => String::new(),
    };
    GrammarError::Syntax(format!("{at}{}", e.message().trim_end()))
}

const DEFAULTS: [(&str, &str, MotifParams); 5] = [
    (
        "plan_regression_onset",
        "plan_regression",
        p(0.9, 0.05, 0.20, 0.50, 5.0),
    ),
    (
        "cardinality_mismatch_regime",
        "cardinality",
        p(0.9, 0.05, 0.5, 1.0, 2.0),
    ),
    (
        "contention_ramp",
        "contention",
        p(0.85, 0.01, 0.05, 0.5, 1.0),
    ),
    ("cache_collapse", "cache_io", p(0.9, 0.02, 0.10, 0.30, 5.0)),
    (
        "workload_phase_transition",
        "workload_phase",
        p(0.9, 0.02, 0.15, 0.35, 30.0),
    ),
];

const fn p(rho: f64, sigma0: f64, drift: f64, slew: f64, dwell: f64) -> MotifParams {
    MotifParams {
        rho,
        sigma0,
        drift_threshold: drift,
        slew_threshold: slew,
        min_dwell_seconds: dwell,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrammarFile {
    #[serde(default)]
    extend_defaults: bool,
    #[serde(default)]
    motif: Vec<MotifEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MotifEntry {
    name: String,
    class: String,
    rho: f64,
    sigma0: f64,
    drift_threshold: f64,
    slew_threshold: f64,
    min_dwell_seconds: f64,
}

impl Default for Grammar {
    fn default() -> Self {
        let motifs = DEFAULTS
            .iter()
            .map(|&(name, class, params)| MotifSpec {
                name: name.into(),
                class: class.into(),
                params,
            })
            .collect();
        Self::new(motifs).expect("the default grammar is valid")
    }
}

impl Grammar {
    /// Validates `motifs` and builds the class table.
    ///
    /// # Errors
    /// Any [`GrammarError`] other than `Syntax`.
    pub fn new(motifs: Vec<MotifSpec>) -> Result<Self, GrammarError> {
        if motifs.is_empty() {
            return Err(GrammarError::Empty);
        }
        if motifs.len() > MAX_MOTIFS {
            return Err(GrammarError::TooMany(motifs.len()));
        }
        let mut classes: Vec<String> = Vec::new();
        let mut class_motifs: Vec<Vec<MotifId>> = Vec::new();
        for (i, m) in motifs.iter().enumerate() {
            validate(i, m)?;
            if motifs[..i].iter().any(|o| o.name == m.name) {
                return Err(GrammarError::DuplicateMotif(m.name.clone()));
            }
            let class = match classes.iter().position(|c| *c == m.class) {
                Some(c) => c,
                None => {
                    classes.push(m.class.clone());
                    class_motifs.push(Vec::new());
                    classes.len() - 1
                }
            };
            class_motifs[class].push(i as MotifId);
        }
        Ok(Self {
            motifs,
            classes,
            class_motifs,
        })
    }

    /// Parses and validates a grammar file's text.
    ///
    /// # Errors
    /// `Syntax` for TOML errors and unknown keys (the message carries the line),
    /// otherwise as [`Grammar::new`].
    pub fn from_toml(text: &str) -> Result<Self, GrammarError> {
        let file: GrammarFile = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        let mut motifs = if file.extend_defaults {
            Grammar::default().motifs
        } else {
            Vec::new()
        };
        motifs.extend(file.motif.into_iter().map(|e| MotifSpec {
            name: e.name,
            class: e.class,
            params: MotifParams {
                rho: e.rho,
                sigma0: e.sigma0,
                drift_threshold: e.drift_threshold,
                slew_threshold: e.slew_threshold,
                min_dwell_seconds: e.min_dwell_seconds,
            },
        }));
        Self::new(motifs)
    }

    /// The motifs, in grammar order (the order of metric series and of
    /// end-of-stream closes).
    pub fn motifs(&self) -> &[MotifSpec] {
        &self.motifs
    }

    /// One motif.
    pub fn motif(&self, id: MotifId) -> &MotifSpec {
        &self.motifs[id as usize]
    }

    /// Distinct classes, in order of first use.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Class id of `name`, if some motif watches it.
    #[inline]
    pub fn class_id(&self, name: &[u8]) -> Option<crate::ClassId> {
        self.classes
            .iter()
            .position(|c| c.as_bytes() == name)
            .map(|i| i as crate::ClassId)
    }

    /// Motifs watching `class`.
    #[inline]
    pub fn motifs_of(&self, class: crate::ClassId) -> &[MotifId] {
        self.class_motifs
            .get(class as usize)
            .map_or(&[], Vec::as_slice)
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn validate(index: usize, m: &MotifSpec) -> Result<(), GrammarError> {
    let invalid = |motif: String, key: &'static str, rule: String| {
        Err(GrammarError::Invalid { motif, key, rule })
    };
    if !is_identifier(&m.name) {
        return invalid(
            format!("#{}", index + 1),
            "name",
            format!("must match [A-Za-z_][A-Za-z0-9_]*, got {:?}", m.name),
        );
    }
    let name = || m.name.clone();
    if !is_identifier(&m.class) {
        return invalid(
            name(),
            "class",
            format!("must match [A-Za-z_][A-Za-z0-9_]*, got {:?}", m.class),
        );
    }
    let p = &m.params;
    if !(p.rho > 0.0 && p.rho < 1.0) {
        return invalid(name(), "rho", format!("must be in (0,1), got {}", p.rho));
    }
    if !(p.sigma0 > 0.0 && p.sigma0.is_finite()) {
        return invalid(
            name(),
            "sigma0",
            format!("must be > 0 and finite, got {}", p.sigma0),
        );
    }
    let non_negative = [
        ("drift_threshold", p.drift_threshold),
        ("slew_threshold", p.slew_threshold),
        ("min_dwell_seconds", p.min_dwell_seconds),
    ];
    for (key, v) in non_negative {
        if !(v >= 0.0 && v.is_finite()) {
            return invalid(name(), key, format!("must be >= 0 and finite, got {v}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_grammar_has_the_five_reference_motifs() {
        let g = Grammar::default();
        let names: Vec<_> = g.motifs().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "plan_regression_onset",
                "cardinality_mismatch_regime",
                "contention_ramp",
                "cache_collapse",
                "workload_phase_transition"
            ]
        );
        let c = g.class_id(b"contention").unwrap();
        assert_eq!(g.motifs_of(c), &[2]);
        assert_eq!(g.motif(2).params.rho, 0.85);
        assert!(g.class_id(b"nope").is_none());
    }

    const ONE: &str = r#"
[[motif]]
name = "slow"
class = "plan_regression"
rho = 0.9
sigma0 = 0.05
drift_threshold = 0.2
slew_threshold = 0.5
min_dwell_seconds = 5
"#;

    #[test]
    fn toml_replaces_or_extends_defaults() {
        let g = Grammar::from_toml(ONE).unwrap();
        assert_eq!(g.motifs().len(), 1);
        let g = Grammar::from_toml(&format!("extend_defaults = true\n{ONE}")).unwrap();
        assert_eq!(g.motifs().len(), 6);
        let c = g.class_id(b"plan_regression").unwrap();
        assert_eq!(g.motifs_of(c), &[0, 5], "two motifs share the class");
    }

    fn err(text: &str) -> String {
        Grammar::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_motif_and_key() {
        assert_eq!(
            err(&ONE.replace("rho = 0.9", "rho = 1.5")),
            "grammar: motif \"slow\": rho must be in (0,1), got 1.5"
        );
        assert_eq!(
            err(&ONE.replace("min_dwell_seconds = 5", "min_dwell_seconds = -1")),
            "grammar: motif \"slow\": min_dwell_seconds must be >= 0 and finite, got -1"
        );
        assert!(err(&ONE.replace("sigma0 = 0.05", "sigma0 = 0")).contains("sigma0 must be > 0"));
        assert_eq!(
            err(&format!("{ONE}{ONE}")),
            "grammar: duplicate motif \"slow\""
        );
        assert!(err(&format!("{ONE}colour = 1\n")).contains("unknown field `colour`"));
        assert!(err("extend_default = true").contains("unknown field `extend_default`"));
        assert!(err(&ONE.replace("rho = 0.9\n", "")).contains("missing field `rho`"));
        assert_eq!(
            err(""),
            "grammar: no motif defined (add at least one [[motif]])"
        );
        assert!(err(&ONE.replace("\"slow\"", "\"has space\"")).contains("motif \"#1\": name"));
    }

    #[test]
    fn a_syntax_error_gives_line_and_column_but_not_the_line() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/bin/false\n";
        let e = err(passwd);
        assert!(e.starts_with("grammar: line 1, column "), "{e}");
        assert!(!e.contains("/bin/bash") && !e.contains('\n'), "{e}");
        let e = err(&format!("{ONE}\nsecret = \"hunter2\"\n"));
        assert!(
            e.contains("line 11, column 1: unknown field `secret`"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }
}
