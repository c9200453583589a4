//! The message stream (bounce-tools(7), MESSAGE STREAM): turns command-line
//! arguments (files, folders, `-`, or nothing for stdin) into raw messages,
//! one at a time.
//!
//! Formats are detected per input from the first bytes: `{` starts NDJSON
//! from bfetch, `From ` starts an mbox, anything else is one RFC 5322
//! message. Folders are Maildirs (`cur/`, `new/`) or plain folders of
//! message files. CR-only files are read as if they had LF endings.
//! Nothing here holds more than one message (capped in size) at a time.

mod detect;
pub mod events;
mod lines;
pub mod maildir_writer;
pub mod maillog;
pub(crate) mod mbox;
pub(crate) mod mbox_writer;
pub(crate) mod ndjson;
pub mod notice;

use crate::exit::{ExitCode, ToExitCode};
use crate::record::Source;
pub use detect::{Format, LineEndings};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Largest message kept whole; the rest of a bigger one is skipped (the
/// bounce report is at the top, and memory must stay bounded).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 32 << 20;
const READ_BUFFER: usize = 256 << 10;

/// One message from the stream, with where it came from.
#[derive(Debug, Clone, Default)]
pub struct RawMessage {
    pub bytes: Vec<u8>,
    pub source: Source,
    /// The message was longer than the cap and was cut.
    pub truncated: bool,
    /// What the bytes are: a mail message, or one ESP event, reply line or
    /// log line.
    pub kind: ItemKind,
}

/// What one item of a stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ItemKind {
    /// An RFC 5322 message.
    #[default]
    Mail,
    /// One ESP event: a JSON object.
    Event,
    /// `ADDRESS<TAB>REPLY`, continuation lines joined.
    Reply,
    /// One mail-log line (PowerMTA: the CSV header line, a newline, and the
    /// row).
    LogLine,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path}: {why}")]
    NotMail { path: String, why: &'static str },
    #[error("{path}: line {line}: {message}")]
    BadLine {
        path: String,
        line: u64,
        message: String,
    },
}

impl ToExitCode for Error {
    fn exit_code(&self) -> ExitCode {
        match self {
            Error::Open { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ExitCode::NoInput
            }
            Error::Open { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                ExitCode::NoInput
            }
            Error::Open { .. } | Error::Read { .. } => ExitCode::IoErr,
            Error::BadLine { .. } | Error::NotMail { .. } => ExitCode::DataErr,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    pub max_message_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Auto,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

enum Pending {
    Stdin,
    Path(PathBuf),
    /// A file found inside a Maildir or folder: always one message.
    FolderMessage(PathBuf),
}

type Reader = Box<dyn Iterator<Item = Result<RawMessage, Error>> + Send>;

/// All messages of all inputs, in order. An input that cannot be opened
/// yields one error and the stream goes on with the next.
pub struct Messages {
    pending: VecDeque<Pending>,
    current: Option<Reader>,
    options: Options,
}

impl Messages {
    /// `args` empty or `-` means stdin.
    pub fn new(args: &[PathBuf], options: Options) -> Self {
        let pending = if args.is_empty() {
            VecDeque::from([Pending::Stdin])
        } else {
            args.iter()
                .map(|a| {
                    if a.as_os_str() == "-" {
                        Pending::Stdin
                    } else {
                        Pending::Path(a.clone())
                    }
                })
                .collect()
        };
        Messages {
            pending,
            current: None,
            options,
        }
    }

    fn open_next(&mut self) -> Option<Result<(), Error>> {
        let next = self.pending.pop_front()?;
        Some(match next {
            Pending::Stdin => {
                let reader = BufReader::with_capacity(READ_BUFFER, io::stdin());
                self.start(reader, None, self.options.format)
            }
            Pending::FolderMessage(path) => self.open_file(&path, Format::Eml),
            Pending::Path(path) => {
                if path.is_dir() {
                    self.queue_folder(&path)
                } else {
                    self.open_file(&path, self.options.format)
                }
            }
        })
    }

    fn open_file(&mut self, path: &Path, format: Format) -> Result<(), Error> {
        let file = File::open(path).map_err(|source| Error::Open {
            path: display(path),
            source,
        })?;
        let reader = BufReader::with_capacity(READ_BUFFER, file);
        self.start(reader, Some(display(path)), format)
    }

    fn start<R: Read + Send + 'static>(
        &mut self,
        mut reader: BufReader<R>,
        path: Option<String>,
        format: Format,
    ) -> Result<(), Error> {
        let name = path.clone().unwrap_or_else(|| "<stdin>".into());
        let head = reader.fill_buf().map_err(|source| Error::Read {
            path: name.clone(),
            source,
        })?;
        let format = match format {
            Format::Auto => detect::format(head),
            f => f,
        };
        // Issue 15: what would be read as one message but is no mail at
        // all is one clear error, not an `unknown` record.
        if format == Format::Eml
            && let Some(why) = detect::not_mail(head)
        {
            return Err(Error::NotMail { path: name, why });
        }
        let endings = detect::line_endings(head);
        let max = self.options.max_message_bytes;
        let source = Source {
            path,
            ..Source::default()
        };
        let reader: Box<dyn BufRead + Send> = if endings == LineEndings::Cr {
            Box::new(BufReader::with_capacity(
                READ_BUFFER,
                detect::CrToLf::new(reader),
            ))
        } else {
            Box::new(reader)
        };
        self.current = Some(match format {
            Format::Mbox => Box::new(mbox::MboxReader::new(reader, source, max)),
            Format::Ndjson => Box::new(mbox::NdjsonReader::new(reader, source, max)),
            Format::Eml | Format::Auto => Box::new(mbox::SingleReader::new(reader, source, max)),
            Format::Events => Box::new(events::JsonItems::new(reader, source, max)),
            Format::Reply => Box::new(lines::ReplyLines::new(reader, source)),
            Format::Maillog => Box::new(lines::LogLines::new(reader, source)),
            Format::Maildir => {
                return Err(Error::Open {
                    path: name,
                    source: io::Error::new(io::ErrorKind::InvalidInput, "not a Maildir folder"),
                });
            }
        });
        Ok(())
    }

    /// Maildir: `cur/` then `new/`; any other folder: its files. Each
    /// listing is sorted so output order does not depend on the file system.
    fn queue_folder(&mut self, dir: &Path) -> Result<(), Error> {
        let subdirs: Vec<PathBuf> = ["cur", "new"]
            .iter()
            .map(|s| dir.join(s))
            .filter(|p| p.is_dir())
            .collect();
        let folders = if subdirs.is_empty() {
            vec![dir.to_path_buf()]
        } else {
            subdirs
        };
        let mut found = Vec::new();
        for folder in folders {
            let entries = std::fs::read_dir(&folder).map_err(|source| Error::Open {
                path: display(&folder),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.path())
                .collect();
            files.sort();
            found.extend(files);
        }
        let is_maildir = self.options.format == Format::Maildir || dir.join("cur").is_dir();
        if found.is_empty() && !is_maildir && !dir.join("new").is_dir() {
            return Err(Error::NotMail {
                path: display(dir),
                why: "not a Maildir folder (no cur/ or new/) and no message files in it",
            });
        }
        for f in found.into_iter().rev() {
            self.pending.push_front(if is_maildir {
                Pending::FolderMessage(f)
            } else {
                Pending::Path(f)
            });
        }
        Ok(())
    }
}

impl Iterator for Messages {
    type Item = Result<RawMessage, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(reader) = self.current.as_mut() {
                match reader.next() {
                    Some(item) => return Some(item),
                    None => self.current = None,
                }
            }
            match self.open_next()? {
                Ok(()) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Error {
    /// The input the error is about.
    pub fn path(&self) -> &str {
        match self {
            Error::Open { path, .. }
            | Error::Read { path, .. }
            | Error::NotMail { path, .. }
            | Error::BadLine { path, .. } => path,
        }
    }
}

pub(crate) fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
