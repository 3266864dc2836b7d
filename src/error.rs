//! The error a command reports before exiting with status 2.

use std::fmt;

/// A message for the operator; the command prints it and exits 2.
#[derive(Debug)]
pub struct Failure(String);

impl Failure {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Turns any displayable error into a [`Failure`] that says what it was
/// about: `WHAT: ERROR`.
pub trait Context<T> {
    /// `what: error` on failure.
    ///
    /// # Errors
    /// When `self` is an error.
    fn context(self, what: impl fmt::Display) -> Result<T, Failure>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T, Failure> {
        self.map_err(|e| Failure(format!("{what}: {e}")))
    }
}
