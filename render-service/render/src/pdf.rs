//! Writing a PDF as a stream of objects: each object goes out as soon as it is made, and only
//! its offset (4 bytes while the file is under 4 GiB) is kept for the cross-reference table at
//! the end, which is itself written entry by entry.
//!
//! pdf-writer builds every object (dictionaries, streams, fonts) with its escaping and
//! number formatting; its `Pdf` keeps the whole file in one buffer, so here each object is
//! written into its own small [`Chunk`] and copied out, and the header, cross-reference table
//! and trailer (a few fixed lines) are written directly.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::ZlibEncoder;
use pdf_writer::{Chunk, Ref};

/// A PDF being written to `W`, object by object.
pub(crate) struct PdfStream<W: Write> {
    out: io::BufWriter<W>,
    /// Bytes written so far: the offset of the next object.
    position: u64,
    /// Offset of each object by id (index 0 is object 1); 0 while not written.
    offsets: Offsets,
}

/// Object offsets, the one thing a streamed PDF keeps per object: `u32` while every offset
/// fits (a bundle of 10,000 students is ~200,000 objects in ~50 MB), widened to `u64` the first
/// time one does not, so that memory per object is halved without a limit on the file's size.
enum Offsets {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Offsets {
    fn len(&self) -> usize {
        match self {
            Self::Narrow(v) => v.len(),
            Self::Wide(v) => v.len(),
        }
    }

    fn get(&self, index: usize) -> u64 {
        match self {
            Self::Narrow(v) => v.get(index).copied().map_or(0, u64::from),
            Self::Wide(v) => v.get(index).copied().unwrap_or(0),
        }
    }

    fn set(&mut self, index: usize, offset: u64) {
        if let Self::Narrow(v) = self {
            match u32::try_from(offset) {
                Ok(narrow) => {
                    if index >= v.len() {
                        v.resize(index + 1, 0);
                    }
                    v[index] = narrow;
                    return;
                }
                Err(_) => *self = Self::Wide(v.iter().map(|&o| u64::from(o)).collect()),
            }
        }
        if let Self::Wide(v) = self {
            if index >= v.len() {
                v.resize(index + 1, 0);
            }
            v[index] = offset;
        }
    }
}

impl<W: Write> PdfStream<W> {
    /// Starts the file: the header, for objects numbered 1 to `objects` at least (more may be
    /// written: the table grows).
    pub(crate) fn new(out: W, objects: usize) -> io::Result<Self> {
        let mut pdf = Self {
            out: io::BufWriter::with_capacity(64 * 1024, out),
            position: 0,
            offsets: Offsets::Narrow(vec![0; objects]),
        };
        // The binary comment line tells transfer tools the file is not text.
        pdf.write(b"%PDF-1.7\n%\x80\x80\x80\x80\n")?;
        Ok(pdf)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Writes `chunk`, which holds exactly one indirect object.
    pub(crate) fn object(&mut self, chunk: &Chunk) -> io::Result<()> {
        let mut refs = chunk.refs();
        let (Some(id), None) = (refs.next(), refs.next()) else {
            return Err(io::Error::other("a chunk must hold exactly one object"));
        };
        self.mark(id)?;
        self.write(chunk.as_bytes())
    }

    /// Writes object `id` whose serialised value (dictionary, stream…) is `body`.
    pub(crate) fn raw_object(&mut self, id: Ref, body: &[u8]) -> io::Result<()> {
        self.mark(id)?;
        let mut head = Vec::with_capacity(24);
        writeln!(head, "{} 0 obj", id.get())?;
        self.write(&head)?;
        self.write(body)?;
        self.write(b"\nendobj\n\n")
    }

    /// Records that object `id` starts here.
    fn mark(&mut self, id: Ref) -> io::Result<()> {
        let index = usize::try_from(id.get() - 1)
            .map_err(|_| io::Error::other(format!("object number {}", id.get())))?;
        self.offsets.set(index, self.position);
        Ok(())
    }

    /// Ends the file: cross-reference table and trailer naming `catalog` and `info`; flushes.
    pub(crate) fn finish(mut self, catalog: Ref, info: Ref) -> io::Result<W> {
        let count = self.offsets.len();
        if let Some(missing) = (0..count).find(|&i| self.offsets.get(i) == 0) {
            return Err(io::Error::other(format!(
                "object {} never written",
                missing + 1
            )));
        }
        let xref = self.position;
        // Straight into the buffered writer: the table is 20 bytes an object, more than the
        // offsets themselves.
        write!(self.out, "xref\n0 {}\n0000000000 65535 f\r\n", count + 1)?;
        for i in 0..count {
            // Each entry is exactly 20 bytes, as the format requires.
            write!(self.out, "{:010} 00000 n\r\n", self.offsets.get(i))?;
        }
        write!(
            self.out,
            "trailer\n<<\n  /Size {}\n  /Root {} 0 R\n  /Info {} 0 R\n>>\nstartxref\n{xref}\n%%EOF\n",
            count + 1,
            catalog.get(),
            info.get()
        )?;
        self.out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }
}

/// `data` compressed for a `/FlateDecode` stream.
pub(crate) fn deflate(data: &[u8]) -> Vec<u8> {
    let mut z = ZlibEncoder::new(
        Vec::with_capacity(data.len() / 3 + 64),
        Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = z.write_all(data);
    z.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::Offsets;

    #[test]
    fn offsets_widen_past_four_gibibytes_and_keep_what_was_there() {
        let mut offsets = Offsets::Narrow(vec![0; 2]);
        offsets.set(0, 15);
        offsets.set(3, 4_000);
        assert!(matches!(offsets, Offsets::Narrow(_)));
        offsets.set(1, u64::from(u32::MAX) + 7);
        assert!(matches!(offsets, Offsets::Wide(_)));
        let read: Vec<u64> = (0..offsets.len()).map(|i| offsets.get(i)).collect();
        assert_eq!(read, [15, u64::from(u32::MAX) + 7, 0, 4_000]);
    }
}
