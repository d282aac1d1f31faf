//! Standard output as every command writes it: a reader that goes away early (`grader results
//! --json | head -1`) is a normal end, not an error.

use std::io::{self, Write};

/// A writer that treats a closed reader ([`io::ErrorKind::BrokenPipe`]) as the end of the
/// output: from then on everything written is dropped and reported as written, so that the
/// command finishes its work (a grading run still records every scan) and exits with its usual
/// code instead of "Broken pipe". Every other error is passed on.
#[derive(Debug)]
pub struct Output<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Output<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            closed: false,
        }
    }

    /// Whether the reader has gone away.
    #[cfg(test)]
    pub fn closed(&self) -> bool {
        self.closed
    }

    fn absorb<T>(&mut self, result: io::Result<T>, done: T) -> io::Result<T> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(done)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.absorb(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.absorb(result, ())
    }
}

/// Standard output, for the commands that print their results there (not locked, so that a
/// grading run's workers can share it behind a mutex).
pub fn stdout() -> Output<io::Stdout> {
    Output::new(io::stdout())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that goes away after `room` bytes.
    struct Pipe {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.got.len() + buf.len() > self.room {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            self.got.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A writer whose every write fails with `kind`.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(self.0))
        }
    }

    #[test]
    fn a_reader_that_goes_away_ends_the_output_quietly() {
        let mut out = Output::new(Pipe {
            room: 6,
            got: Vec::new(),
        });
        for line in ["one", "two", "three", "four"] {
            writeln!(out, "{line}").expect("a closed reader is not an error");
        }
        out.flush().expect("flush after close");
        assert!(out.closed());
        assert_eq!(out.inner.got, b"one\n");
    }

    #[test]
    fn csv_and_json_writers_finish_on_a_closed_reader() {
        let mut out = Output::new(Pipe {
            room: 0,
            got: Vec::new(),
        });
        serde_json::to_writer_pretty(&mut out, &vec![1, 2, 3]).expect("json");
        assert!(out.closed());
    }

    #[test]
    fn other_errors_are_still_errors() {
        let mut out = Output::new(Failing(io::ErrorKind::StorageFull));
        assert!(writeln!(out, "x").is_err());
        assert!(out.flush().is_err());
        assert!(!out.closed());
    }
}
