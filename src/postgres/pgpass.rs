//! libpq password files (`PGPASSFILE`, `~/.pgpass`): one
//! `host:port:database:user:password` line per entry, `*` matching anything,
//! `\:` and `\\` escaping, the first matching line winning.

use std::path::Path;

/// The password of the first line of the file at `path` matching `want`
/// (host, port, database, user), if any. Like libpq, a file others can read
/// is ignored, with a warning.
///
/// # Errors
/// The file cannot be read.
pub(crate) fn lookup(path: &Path, want: [&str; 4]) -> Result<Option<String>, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            log::warn!(
                "password file {} has group or world access; ignored (chmod 0600 it)",
                path.display()
            );
            return Ok(None);
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_line(line);
        let [h, p, d, u, password] = fields.as_slice() else {
            continue;
        };
        if [h, p, d, u]
            .iter()
            .zip(want)
            .all(|(f, w)| f.as_str() == "*" || f.as_str() == w)
        {
            return Ok(Some(password.clone()));
        }
    }
    Ok(None)
}

/// Splits a password-file line at unescaped colons (`\:` and `\\` escape).
fn split_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().expect("one field").extend(chars.next()),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}
