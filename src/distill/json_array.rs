//! Splits a JSON array into its elements while reading, so each element can be
//! decoded (and refused) on its own with the line it starts on, and memory
//! holds one element. Only the array's structure is tracked here — strings,
//! escapes, bracket depth; each element is then decoded by `serde_json`, which
//! checks everything else. (`serde_json` reads an array whole or fails whole;
//! the reference does the latter on a single bad element.)

/// What the splitter found.
pub(crate) enum Event<'a> {
    /// One element's text (surrounding blanks included).
    Element { line: u64, text: &'a [u8] },
    /// An element longer than the bound, skipped.
    TooLong { line: u64 },
    /// Text after the end of the array, or an array cut short: nothing more
    /// is read from this input.
    Broken { line: u64, what: &'static str },
    /// The input is not a JSON array at all.
    NotAnArray { what: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    BeforeArray,
    BeforeFirst,
    BeforeElement,
    InElement,
    AfterArray,
    Failed,
}

/// The splitter's state between chunks of input.
pub(crate) struct Elements {
    state: State,
    depth: u32,
    in_string: bool,
    escaped: bool,
    element: Vec<u8>,
    element_line: u64,
    too_long: bool,
    /// Line ends in the part of a too-long element already dropped.
    dropped_newlines: u64,
    line: u64,
    max: usize,
}

impl Elements {
    /// A splitter refusing elements longer than `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            state: State::BeforeArray,
            depth: 0,
            in_string: false,
            escaped: false,
            element: Vec::new(),
            element_line: 0,
            too_long: false,
            dropped_newlines: 0,
            line: 1,
            max,
        }
    }

    /// Feeds the next chunk of input.
    pub(crate) fn feed<E>(
        &mut self,
        bytes: &[u8],
        f: &mut impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if self.state == State::Failed {
                return Ok(());
            }
            if self.state == State::InElement {
                i += self.scan_element(&bytes[i..], f)?;
                continue;
            }
            // Line ends inside an element are counted when it ends.
            let outside = self.state != State::InElement;
            self.byte(b, f)?;
            if b == b'\n' && outside {
                self.line += 1;
            }
            i += 1;
        }
        Ok(())
    }

    /// Appends bytes of the current element (bounded).
    fn take(&mut self, run: &[u8]) {
        if self.too_long {
            self.dropped_newlines += newlines(run);
        } else if self.element.len() + run.len() > self.max {
            self.too_long = true;
            self.dropped_newlines = newlines(&self.element) + newlines(run);
            self.element.clear();
        } else {
            self.element.extend_from_slice(run);
        }
    }

    fn byte<E>(&mut self, b: u8, f: &mut impl FnMut(Event<'_>) -> Result<(), E>) -> Result<(), E> {
        let blank = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        match self.state {
            State::Failed => Ok(()),
            State::BeforeArray if blank => Ok(()),
            State::BeforeArray if b == b'[' => {
                self.state = State::BeforeFirst;
                Ok(())
            }
            State::BeforeArray => {
                self.state = State::Failed;
                f(Event::NotAnArray {
                    what: "the input is not a JSON array",
                })
            }
            State::BeforeFirst | State::BeforeElement if blank => Ok(()),
            State::BeforeFirst if b == b']' => {
                self.state = State::AfterArray;
                Ok(())
            }
            State::BeforeElement if b == b']' => {
                self.state = State::AfterArray;
                f(Event::Broken {
                    line: self.line,
                    what: "a comma before the end of the array",
                })
            }
            State::BeforeFirst | State::BeforeElement => {
                self.state = State::InElement;
                self.element_line = self.line;
                self.scan_element(std::slice::from_ref(&b), f).map(|_| ())
            }
            State::InElement => self.scan_element(std::slice::from_ref(&b), f).map(|_| ()),
            State::AfterArray if blank => Ok(()),
            State::AfterArray => self.fail("text after the end of the array", f),
        }
    }

    /// Element bytes up to its end (a `,` or `]` outside strings and nested
    /// brackets) or the chunk's end, in one pass; returns the bytes consumed.
    fn scan_element<E>(
        &mut self,
        bytes: &[u8],
        f: &mut impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let (mut depth, mut in_string, mut escaped) = (self.depth, self.in_string, self.escaped);
        let mut end = None;
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b',' if depth == 0 => {
                        end = Some(State::BeforeElement);
                        break;
                    }
                    b']' if depth == 0 => {
                        end = Some(State::AfterArray);
                        break;
                    }
                    b'}' | b']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            i += 1;
        }
        (self.depth, self.in_string, self.escaped) = (depth, in_string, escaped);
        self.take(&bytes[..i]);
        match end {
            Some(next) => {
                self.end_element(next, f)?;
                Ok(i + 1)
            }
            None => Ok(i),
        }
    }

    fn end_element<E>(
        &mut self,
        next: State,
        f: &mut impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.state = next;
        let line = self.element_line;
        self.line = line
            + if self.too_long {
                self.dropped_newlines
            } else {
                newlines(&self.element)
            };
        let event = if std::mem::take(&mut self.too_long) {
            Event::TooLong { line }
        } else {
            Event::Element {
                line,
                text: &self.element,
            }
        };
        let result = f(event);
        self.element.clear();
        result
    }

    fn fail<E>(
        &mut self,
        what: &'static str,
        f: &mut impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.state = State::Failed;
        f(Event::Broken {
            line: self.line,
            what,
        })
    }

    /// End of input: an array still open is reported (with its last element).
    pub(crate) fn finish<E>(
        &mut self,
        f: &mut impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        match self.state {
            State::AfterArray | State::Failed => Ok(()),
            State::BeforeArray => {
                self.state = State::Failed;
                f(Event::NotAnArray {
                    what: "the input is empty, not a JSON array",
                })
            }
            State::BeforeFirst | State::BeforeElement => self.fail("the array is not closed", f),
            State::InElement => {
                let line = self.element_line;
                self.state = State::Failed;
                f(Event::Broken {
                    line,
                    what: "the array ends inside this element",
                })
            }
        }
    }
}

/// Line ends in `bytes` (a plain loop: elements are short, and it vectorises).
fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(e: Event<'_>) -> String {
        match e {
            Event::Element { line, text } => {
                format!("{line}:{}", String::from_utf8_lossy(text).trim())
            }
            Event::TooLong { line } => format!("{line}:too long"),
            Event::Broken { line, what } => format!("{line}!{what}"),
            Event::NotAnArray { what } => format!("!{what}"),
        }
    }

    /// The events of `text` fed in `chunk`-byte pieces.
    fn events(text: &str, max: usize, chunk: usize) -> Vec<String> {
        let mut got = Vec::new();
        let mut s = Elements::new(max);
        let mut f = |e: Event<'_>| -> Result<(), ()> {
            got.push(describe(e));
            Ok(())
        };
        for piece in text.as_bytes().chunks(chunk.max(1)) {
            s.feed(piece, &mut f).unwrap();
        }
        s.finish(&mut f).unwrap();
        got
    }

    fn split(text: &str, max: usize) -> Vec<String> {
        // One byte at a time, then all at once: chunk boundaries must not matter.
        let one_by_one = events(text, max, 1);
        let got = events(text, max, text.len());
        assert_eq!(one_by_one, got, "{text:?}");
        got
    }

    #[test]
    fn elements_with_lines() {
        let got = split("[\n {\"a\":\"],{\\\"\"},\n [1,[2]] ,\n3\n]\n", 1000);
        assert_eq!(got, ["2:{\"a\":\"],{\\\"\"}", "3:[1,[2]]", "4:3"]);
        assert!(split(" [ ] ", 10).is_empty());
    }

    #[test]
    fn lines_after_long_and_multi_line_elements() {
        let text = "[\n{\"a\":\n\n1}, \"x\nxxxxxxxxxx\nxxxxxxxxxx\",\n 2\n]";
        assert_eq!(split(text, 12), ["2:{\"a\":\n\n1}", "4:too long", "7:2"]);
    }

    #[test]
    fn broken_arrays() {
        assert_eq!(split("{}", 10), ["!the input is not a JSON array"]);
        assert_eq!(split("", 10), ["!the input is empty, not a JSON array"]);
        assert_eq!(
            split("[1,2", 10),
            ["1:1", "1!the array ends inside this element"]
        );
        assert_eq!(
            split("[1]x", 10),
            ["1:1", "1!text after the end of the array"]
        );
        assert_eq!(
            split("[1,]", 10),
            ["1:1", "1!a comma before the end of the array"]
        );
        assert_eq!(split("[12345,1]", 3), ["1:too long", "1:1"]);
    }
}
