//! Cuts an input of ESP events into single JSON objects without holding
//! more than one (bclassify(1), ESP EVENTS): JSON Lines, a JSON array,
//! arrays on successive lines (a webhook receiver that appends each posted
//! body), or pretty-printed documents one after another. Outside an
//! object, whitespace, commas and array brackets only separate; every
//! top-level object, and every object directly inside a top-level array,
//! is one event.

use crate::record::Source;
use crate::stream::mbox::read_error;
use crate::stream::{Error, ItemKind, RawMessage};
use std::io::{self, BufRead};

pub struct JsonItems<R> {
    reader: R,
    template: Source,
    max: usize,
    /// Byte offset of the next unread byte.
    pos: u64,
    line: u64,
    index: u64,
    done: bool,
}

impl<R: BufRead> JsonItems<R> {
    pub fn new(reader: R, template: Source, max: usize) -> Self {
        JsonItems {
            reader,
            template,
            max,
            pos: 0,
            line: 1,
            index: 0,
            done: false,
        }
    }

    fn bad(&self, line: u64, message: String) -> Error {
        Error::BadLine {
            path: self
                .template
                .path
                .clone()
                .unwrap_or_else(|| "<stdin>".into()),
            line,
            message,
        }
    }

    /// Skips separators up to the next `{`; None at the end of the input,
    /// an error for anything that cannot start an event (the rest of that
    /// line is skipped so the next line can still be read).
    fn seek_object(&mut self) -> Result<Option<()>, Error> {
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(&self.template, e)),
            };
            if buf.is_empty() {
                return Ok(None);
            }
            let mut used = 0;
            let mut found = false;
            let mut junk = None;
            for &b in buf {
                match b {
                    b'{' => {
                        found = true;
                        break;
                    }
                    b'\n' => self.line += 1,
                    b' ' | b'\t' | b'\r' | b',' | b'[' | b']' => {}
                    // A UTF-8 byte order mark at the start of a file.
                    0xEF | 0xBB | 0xBF if self.pos + (used as u64) < 3 => {}
                    other => {
                        junk = Some(other);
                        break;
                    }
                }
                used += 1;
            }
            self.reader.consume(used);
            self.pos += used as u64;
            if found {
                return Ok(Some(()));
            }
            if let Some(b) = junk {
                let line = self.line;
                let mut rest = Vec::new();
                let n = crate::stream::mbox::read_line_capped(&mut self.reader, &mut rest, 64)
                    .map_err(|e| read_error(&self.template, e))?;
                self.pos += n as u64;
                self.line += 1;
                return Err(self.bad(
                    line,
                    format!(
                        "not a JSON object (starts with {:?})",
                        char::from(b).escape_default().to_string()
                    ),
                ));
            }
        }
    }

    /// Reads one object, from its `{` to its matching `}`, keeping at
    /// most `max` bytes of it.
    fn read_object(&mut self) -> Result<(Vec<u8>, bool), Error> {
        let start_line = self.line;
        let mut bytes = Vec::new();
        let mut truncated = false;
        let mut depth = 0u32;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(&self.template, e)),
            };
            if buf.is_empty() {
                self.done = true;
                return Err(self.bad(
                    start_line,
                    "JSON object cut off at the end of the input".into(),
                ));
            }
            let mut end = None;
            let mut i = 0;
            while i < buf.len() {
                let b = buf[i];
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                    } else {
                        // Most of an event is string text: jump to its
                        // next quote or backslash. (A line break inside a
                        // string is not JSON; it is not counted.)
                        match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                            Some(j) => i += j,
                            None => i = buf.len(),
                        }
                        continue;
                    }
                    i += 1;
                    continue;
                }
                i += 1;
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                    b'\n' => self.line += 1,
                    _ => {}
                }
            }
            let take = end.unwrap_or(buf.len());
            let room = self.max.saturating_sub(bytes.len());
            if take > room {
                truncated = true;
            }
            bytes.extend_from_slice(&buf[..take.min(room)]);
            self.reader.consume(take);
            self.pos += take as u64;
            if end.is_some() {
                return Ok((bytes, truncated));
            }
        }
    }
}

impl<R: BufRead> Iterator for JsonItems<R> {
    type Item = Result<RawMessage, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.seek_object() {
            Ok(Some(())) => {}
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => return Some(Err(e)),
        }
        let offset = self.pos;
        let line = self.line;
        let (bytes, truncated) = match self.read_object() {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        if truncated {
            // A cut event is no event: its JSON no longer parses.
            return Some(Err(self.bad(
                line,
                format!("event longer than {} bytes (--max-message-size)", self.max),
            )));
        }
        let mut source = self.template.clone();
        source.index = Some(self.index);
        source.offset = Some(offset);
        self.index += 1;
        Some(Ok(RawMessage {
            bytes,
            source,
            truncated: false,
            kind: ItemKind::Event,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(input: &str) -> Vec<Result<String, String>> {
        JsonItems::new(input.as_bytes(), Source::default(), 1000)
            .map(|r| {
                r.map(|m| String::from_utf8(m.bytes).unwrap())
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    #[test]
    fn lines_arrays_and_documents() {
        let got = items("{\"a\":1}\n{\"b\":\"}{\"}\n");
        assert_eq!(
            got,
            vec![Ok("{\"a\":1}".into()), Ok("{\"b\":\"}{\"}".into())]
        );
        let got = items("[{\"a\":[1,{\"x\":2}]},\n {\"b\":2}]\n[{\"c\":\"\\\"}\"}]");
        assert_eq!(
            got,
            vec![
                Ok("{\"a\":[1,{\"x\":2}]}".into()),
                Ok("{\"b\":2}".into()),
                Ok("{\"c\":\"\\\"}\"}".into())
            ]
        );
        let got = items("{\n  \"a\": 1\n}\n\n{\n  \"b\": 2\n}\n");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn junk_and_cut_objects_are_errors_that_name_the_line() {
        let got = items("{\"a\":1}\nnot json\n{\"b\":2}\n{\"c\":");
        assert_eq!(got[0], Ok("{\"a\":1}".into()));
        assert!(
            got[1]
                .as_ref()
                .unwrap_err()
                .contains("line 2: not a JSON object")
        );
        assert_eq!(got[2], Ok("{\"b\":2}".into()));
        assert!(
            got[3]
                .as_ref()
                .unwrap_err()
                .contains("line 4: JSON object cut off")
        );
        assert_eq!(got.len(), 4);
        let long = format!("{{\"a\":\"{}\"}}\n{{\"b\":1}}", "x".repeat(2000));
        let got = items(&long);
        assert!(got[0].as_ref().unwrap_err().contains("longer than"));
        assert_eq!(got[1], Ok("{\"b\":1}".into()));
    }
}
