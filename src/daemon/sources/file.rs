//! A file or stdin, read to its end or, with `follow`, polled for appended
//! lines like `tail -f`.

use super::{short, Running, Source, SourceContext, POLL};
use crate::error::{Context, Failure};
use crate::line_ingest::Stopped;
use std::io::{self, Read};
use std::thread::{self, JoinHandle};

/// `--input FILE` (`-` = stdin).
pub struct FileSource {
    name: String,
    reader: Box<dyn Read + Send>,
    follow: bool,
}

impl FileSource {
    /// Opens `input` (`-` = stdin; `follow` does not apply to it).
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(input: &str, follow: bool) -> Result<Self, Failure> {
        if input == "-" {
            return Ok(Self {
                name: "stdin".into(),
                reader: Box::new(io::stdin()),
                follow: false,
            });
        }
        Ok(Self {
            name: input.to_owned(),
            reader: Box::new(std::fs::File::open(input).context(input)?),
            follow,
        })
    }
}

impl Source for FileSource {
    fn start(self: Box<Self>, ctx: SourceContext) -> Result<Box<dyn Running>, Failure> {
        let name = self.name.clone();
        let thread = thread::Builder::new()
            .name(format!("motifd-src-{}", short(&self.name)))
            .spawn(move || self.read(&ctx))
            .context("cannot start a source thread")?;
        Ok(Box::new(ReadingFile { name, thread }))
    }

    /// Its lines go through [`LineIngest`](crate::line_ingest::LineIngest).
    fn follows_names(&self) -> bool {
        true
    }
}

impl FileSource {
    fn read(mut self, ctx: &SourceContext) {
        let mut ingest = ctx.line_ingest(self.name.clone());
        let mut buf = vec![0u8; crate::lines::READ_CHUNK];
        let following = if self.follow { " (following)" } else { "" };
        log::info!("source {}: reading{following}", self.name);
        while !ctx.stopping() {
            match self.reader.read(&mut buf) {
                Ok(0) if self.follow => thread::sleep(POLL),
                Ok(0) => break,
                Ok(n) => {
                    if let Err(Stopped::Disconnected) = ingest.feed(&buf[..n]) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::error!("source {}: read error: {e}", self.name);
                    break;
                }
            }
        }
        let _ = ingest.end(true);
        log::info!("source {}: ended", self.name);
    }
}

/// A file being read.
struct ReadingFile {
    name: String,
    thread: JoinHandle<()>,
}

impl Running for ReadingFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn stop(self: Box<Self>) {
        // A read of stdin (or of a pipe named as a file) cannot be
        // interrupted: such a thread is left to end with the process.
        if self.thread.is_finished() {
            let _ = self.thread.join();
        }
    }
}
