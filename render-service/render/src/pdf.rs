//! Writing a PDF as a stream of objects: each object goes out as soon as it is made, and only
//! its offset (8 bytes) is kept for the cross-reference table at the end.
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
    offsets: Vec<u64>,
}

impl<W: Write> PdfStream<W> {
    /// Starts the file: the header, for objects numbered 1 to `objects` at least (more may be
    /// written: the table grows).
    pub(crate) fn new(out: W, objects: usize) -> io::Result<Self> {
        let mut pdf = Self {
            out: io::BufWriter::with_capacity(64 * 1024, out),
            position: 0,
            offsets: vec![0; objects],
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
        if index >= self.offsets.len() {
            self.offsets.resize(index + 1, 0);
        }
        self.offsets[index] = self.position;
        Ok(())
    }

    /// Ends the file: cross-reference table and trailer naming `catalog` and `info`; flushes.
    pub(crate) fn finish(mut self, catalog: Ref, info: Ref) -> io::Result<W> {
        if let Some(missing) = self.offsets.iter().position(|&o| o == 0) {
            return Err(io::Error::other(format!(
                "object {} never written",
                missing + 1
            )));
        }
        let xref = self.position;
        let mut table = Vec::with_capacity(64 + 20 * self.offsets.len());
        write!(
            table,
            "xref\n0 {}\n0000000000 65535 f\r\n",
            self.offsets.len() + 1
        )?;
        for offset in &self.offsets {
            // Each entry is exactly 20 bytes, as the format requires.
            write!(table, "{offset:010} 00000 n\r\n")?;
        }
        write!(
            table,
            "trailer\n<<\n  /Size {}\n  /Root {} 0 R\n  /Info {} 0 R\n>>\nstartxref\n{xref}\n%%EOF\n",
            self.offsets.len() + 1,
            catalog.get(),
            info.get()
        )?;
        self.write(&table)?;
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
