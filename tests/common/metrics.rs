//! A scraped exposition: sample values by series, and a strict check of the
//! classic text format.

use std::collections::BTreeMap;

/// Sample values of one exposition, keyed by `name{labels}` exactly as written.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub series: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn parse(text: &str) -> Self {
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (key, value) = split_sample(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
                (key.to_owned(), parse_value(value).unwrap())
            })
            .collect();
        Self { series }
    }

    /// Value of the series `key` (`name` or `name{labels}`), if present.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.series.get(key).copied()
    }

    /// Value of `key`, which must be present.
    pub fn value(&self, key: &str) -> f64 {
        self.get(key)
            .unwrap_or_else(|| panic!("no series {key} in the scrape"))
    }

    /// Sum over every series of metric `name` (any labels).
    pub fn sum(&self, name: &str) -> f64 {
        self.series
            .iter()
            .filter(|(k, _)| *k == name || k.starts_with(&format!("{name}{{")))
            .map(|(_, v)| *v)
            .sum()
    }

    pub fn received(&self) -> u64 {
        self.value("dsfb_samples_received_total") as u64
    }
    pub fn flushed(&self) -> u64 {
        self.value("dsfb_streaming_residuals_flushed_total") as u64
    }
    pub fn staged(&self) -> u64 {
        self.value("dsfb_streaming_residuals_staged") as u64
    }
    pub fn dropped(&self) -> u64 {
        self.value("dsfb_streaming_residuals_dropped_out_of_window_total") as u64
    }
    pub fn rejected(&self) -> u64 {
        self.sum("dsfb_samples_rejected_total") as u64
    }
    pub fn rejected_for(&self, reason: &str) -> u64 {
        self.value(&format!(
            "dsfb_samples_rejected_total{{reason=\"{reason}\"}}"
        )) as u64
    }
    pub fn episode_log_errors(&self) -> u64 {
        self.value("dsfb_episode_log_write_errors_total") as u64
    }
    pub fn textfile_writes(&self) -> u64 {
        self.value("dsfb_textfile_writes_total") as u64
    }
    pub fn textfile_errors(&self) -> u64 {
        self.value("dsfb_textfile_write_errors_total") as u64
    }
    pub fn producers_refused(&self) -> u64 {
        self.value("dsfb_ingest_producers_refused_total") as u64
    }
    pub fn episodes(&self, motif: &str) -> Option<u64> {
        self.get(&format!("dsfb_episodes_total{{motif=\"{motif}\"}}"))
            .map(|v| v as u64)
    }

    /// `received = flushed + staged + dropped + rejected`.
    pub fn assert_conserved(&self) {
        assert_eq!(
            self.received(),
            self.flushed() + self.staged() + self.dropped() + self.rejected(),
            "received != flushed + staged + dropped + rejected: {}",
            self.summary()
        );
    }

    pub fn summary(&self) -> String {
        let get = |k: &str| self.get(k).map_or("-".into(), |v| v.to_string());
        format!(
            "received {} flushed {} staged {} dropped {} rejected {} episodes {}",
            get("dsfb_samples_received_total"),
            get("dsfb_streaming_residuals_flushed_total"),
            get("dsfb_streaming_residuals_staged"),
            get("dsfb_streaming_residuals_dropped_out_of_window_total"),
            self.sum("dsfb_samples_rejected_total"),
            self.sum("dsfb_episodes_total"),
        )
    }
}

/// Splits a sample line into `name{labels}` and the value (timestamp ignored),
/// honouring quoted label values.
fn split_sample(line: &str) -> Result<(&str, &str), String> {
    let end_of_key = match line.find('{') {
        Some(open) if open < line.find(' ').unwrap_or(usize::MAX) => {
            let bytes = line.as_bytes();
            let (mut i, mut quoted) = (open + 1, false);
            loop {
                match bytes.get(i) {
                    None => return Err("unterminated label set".into()),
                    Some(b'\\') if quoted => i += 1,
                    Some(b'"') => quoted = !quoted,
                    Some(b'}') if !quoted => break i + 1,
                    _ => {}
                }
                i += 1;
            }
        }
        _ => line.find(' ').ok_or("no value")?,
    };
    let key = &line[..end_of_key];
    let rest = line[end_of_key..]
        .strip_prefix(' ')
        .ok_or("no space before the value")?;
    let mut fields = rest.split(' ');
    let value = fields.next().ok_or("no value")?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok((key, value))
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => v.parse().map_err(|_| format!("bad value {v:?}")),
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks the classic (0.0.4) text format: HELP/TYPE comments well formed, one
/// TYPE per family before its samples, every sample named, labelled and valued
/// correctly and belonging to a declared family (histogram/summary suffixes
/// included), no duplicate series, newline at the end. Returns the number of
/// samples.
pub fn check_classic_format(text: &str) -> Result<usize, String> {
    const TYPES: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];
    if !text.ends_with('\n') {
        return Err("does not end with a newline".into());
    }
    if text.contains("# EOF") {
        return Err("classic format must not carry the OpenMetrics # EOF".into());
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut samples = 0;
    for (n, line) in text.lines().enumerate() {
        let err = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _) if is_metric_name(name) => {}
                (Some("TYPE"), Some(name), Some(kind)) if is_metric_name(name) => {
                    if !TYPES.contains(&kind) {
                        return Err(err(format!("unknown type {kind}")));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(err("second TYPE for the family".into()));
                    }
                }
                (Some("HELP" | "TYPE"), _, _) => return Err(err("malformed HELP/TYPE".into())),
                _ => {}
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let (key, value) = split_sample(line).map_err(err)?;
        parse_value(value).map_err(err)?;
        let (name, labels) = match key.find('{') {
            Some(i) => (&key[..i], Some(&key[i + 1..key.len() - 1])),
            None => (key, None),
        };
        if !is_metric_name(name) {
            return Err(err(format!("bad metric name {name}")));
        }
        if let Some(labels) = labels {
            check_labels(labels).map_err(err)?;
        }
        let family_ok = types.contains_key(name)
            || ["_bucket", "_sum", "_count"].iter().any(|s| {
                name.strip_suffix(s).is_some_and(|base| {
                    matches!(
                        types.get(base).map(String::as_str),
                        Some("histogram" | "summary")
                    )
                })
            });
        if !family_ok {
            return Err(err(format!("sample of {name} has no TYPE before it")));
        }
        if !seen.insert(key.to_owned()) {
            return Err(err("duplicate series".into()));
        }
        samples += 1;
    }
    if samples == 0 {
        return Err("no samples".into());
    }
    Ok(samples)
}

fn check_labels(labels: &str) -> Result<(), String> {
    let mut rest = labels;
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or("label without =")?;
        if !is_label_name(&rest[..eq]) {
            return Err(format!("bad label name {:?}", &rest[..eq]));
        }
        let after = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let bytes = after.as_bytes();
        let mut i = 0;
        loop {
            match bytes.get(i) {
                None => return Err("unterminated label value".into()),
                Some(b'\\') => {
                    if !matches!(bytes.get(i + 1), Some(b'\\' | b'"' | b'n')) {
                        return Err("bad escape in label value".into());
                    }
                    i += 2;
                }
                Some(b'"') => break,
                Some(b'\n') => return Err("raw newline in label value".into()),
                _ => i += 1,
            }
        }
        rest = &after[i + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    Ok(())
}
