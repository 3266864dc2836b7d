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
        for &b in bytes {
            if self.state == State::Failed {
                return Ok(());
            }
            self.byte(b, f)?;
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(())
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
                self.in_element(b, f)
            }
            State::InElement => self.in_element(b, f),
            State::AfterArray if blank => Ok(()),
            State::AfterArray => self.fail("text after the end of the array", f),
        }
    }

    fn in_element<E>(
        &mut self,
        b: u8,
        f: &mut impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            }
        } else {
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b',' if self.depth == 0 => return self.end_element(State::BeforeElement, f),
                b']' if self.depth == 0 => return self.end_element(State::AfterArray, f),
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        if !self.too_long {
            if self.element.len() < self.max {
                self.element.push(b);
            } else {
                self.too_long = true;
                self.element.clear();
            }
        }
        Ok(())
    }

    fn end_element<E>(
        &mut self,
        next: State,
        f: &mut impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.state = next;
        let line = self.element_line;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, max: usize) -> Vec<String> {
        let mut got = Vec::new();
        let mut s = Elements::new(max);
        let mut f = |e: Event<'_>| -> Result<(), ()> {
            got.push(match e {
                Event::Element { line, text } => {
                    format!("{line}:{}", String::from_utf8_lossy(text).trim())
                }
                Event::TooLong { line } => format!("{line}:too long"),
                Event::Broken { line, what } => format!("{line}!{what}"),
                Event::NotAnArray { what } => format!("!{what}"),
            });
            Ok(())
        };
        // One byte at a time: chunk boundaries must not matter.
        for b in text.as_bytes() {
            s.feed(std::slice::from_ref(b), &mut f).unwrap();
        }
        s.finish(&mut f).unwrap();
        got
    }

    #[test]
    fn elements_with_lines() {
        let got = split("[\n {\"a\":\"],{\\\"\"},\n [1,[2]] ,\n3\n]\n", 1000);
        assert_eq!(got, ["2:{\"a\":\"],{\\\"\"}", "3:[1,[2]]", "4:3"]);
        assert!(split(" [ ] ", 10).is_empty());
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
