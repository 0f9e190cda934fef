//! The client's output. Stdout goes through [`print`], which turns a closed pipe into
//! [`Closed`]: the program then ends quietly, as a Unix filter does when its reader goes
//! away (`stillepost status | head -1`), instead of panicking. Stderr goes through
//! [`eprint`], which never fails: nothing is left to tell when stderr is gone.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// The version of every JSON document the client prints (`schema_version`): raised when a
/// key changes meaning or goes away (new keys do not raise it).
pub const SCHEMA_VERSION: u32 = 2;

/// Whether a JSON document went to stdout already: one invocation prints one.
static DOCUMENT: AtomicBool = AtomicBool::new(false);

/// Stdout was closed by its reader: nothing more can be said.
#[derive(Debug)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed by its reader")
    }
}

impl std::error::Error for Closed {}

/// Exit status after [`Closed`]: 128 + SIGPIPE, what a shell reports for a filter that
/// ended on a closed pipe.
pub const EXIT_CLOSED: u8 = 141;

/// Writes `bytes` to stdout and flushes; a closed pipe is [`Closed`].
pub fn write(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(Closed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

/// Writes `text` to stdout; a closed pipe is [`Closed`].
pub fn print(text: &str) -> anyhow::Result<()> {
    write(text.as_bytes())
}

/// Writes `text` to stderr, ignoring failure.
pub fn eprint(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Whether `error` is (or was caused by) a closed stdout.
pub fn is_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<Closed>()
            || cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == ErrorKind::BrokenPipe)
    })
}

/// `doc` with its `schema_version`.
pub fn versioned(mut doc: serde_json::Value) -> serde_json::Value {
    if let Some(map) = doc.as_object_mut() {
        map.insert("schema_version".into(), SCHEMA_VERSION.into());
    }
    doc
}

/// Prints `doc` as this invocation's JSON document, with its `schema_version`.
pub fn document(doc: serde_json::Value) -> anyhow::Result<()> {
    DOCUMENT.store(true, Ordering::Relaxed);
    print(&(serde_json::to_string_pretty(&versioned(doc))? + "\n"))
}

/// Under `--json`, an error that ended the program before it printed its document becomes
/// the document: `{"error": {"kind", "message", "exit_status"}}` (it still goes to stderr
/// as text too). Nothing when a document was printed already (a failed tour's result).
pub fn json_error(kind: &str, message: &str, exit_status: u8) {
    if DOCUMENT.load(Ordering::Relaxed) {
        return;
    }
    let _ = document(serde_json::json!({
        "error": {
            "kind": kind,
            "message": message,
            "exit_status": exit_status,
        }
    }));
}
