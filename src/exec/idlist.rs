//! The ids a run's count listed (PostgreSQL, MySQL): in memory while they are few, in an
//! unnamed temporary file beyond that, so the run's memory stays flat however large the
//! backlog. The batches read them back in order, a slice at a time.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Mutex;

/// Every this many ids the file's offset is remembered: a slice is read from the nearest mark.
const MARK_EVERY: usize = 1024;

/// A list of ids, in the order they were pushed.
pub struct IdList {
    len: usize,
    in_memory: usize,
    mem: Vec<String>,
    file: Option<Spill>,
}

/// The list's file: each id as its length (4 bytes, little-endian) and its UTF-8 bytes.
struct Spill {
    writer: Option<BufWriter<File>>,
    reader: Mutex<Option<BufReader<File>>>,
    /// The byte offset of ids 0, MARK_EVERY, 2·MARK_EVERY, …
    marks: Vec<u64>,
    bytes: u64,
}

impl std::fmt::Debug for IdList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IdList({} ids{})",
            self.len,
            if self.file.is_some() {
                ", in a file"
            } else {
                ""
            }
        )
    }
}

impl Default for IdList {
    fn default() -> Self {
        IdList::with_memory(crate::plan::LISTED_IN_MEMORY)
    }
}

impl IdList {
    /// A list that keeps at most `in_memory` ids in memory, and every id in a file beyond.
    pub fn with_memory(in_memory: usize) -> IdList {
        IdList {
            len: 0,
            in_memory,
            mem: Vec::new(),
            file: None,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the ids went to the file.
    pub fn in_file(&self) -> bool {
        self.file.is_some()
    }

    /// Adds the next id.
    pub fn push(&mut self, id: String) -> io::Result<()> {
        if self.file.is_none() && self.mem.len() >= self.in_memory {
            let mut spill = Spill {
                writer: Some(BufWriter::with_capacity(1 << 16, tempfile::tempfile()?)),
                reader: Mutex::new(None),
                marks: Vec::new(),
                bytes: 0,
            };
            for (i, id) in std::mem::take(&mut self.mem).into_iter().enumerate() {
                spill.write(i, &id)?;
            }
            self.file = Some(spill);
        }
        match &mut self.file {
            Some(spill) => spill.write(self.len, &id)?,
            None => self.mem.push(id),
        }
        self.len += 1;
        Ok(())
    }

    /// Ends the writing: the list can be read from now on.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(spill) = &mut self.file {
            if let Some(w) = spill.writer.take() {
                let file = w.into_inner().map_err(|e| e.into_error())?;
                *spill.reader.get_mut().unwrap_or_else(|e| e.into_inner()) =
                    Some(BufReader::with_capacity(1 << 16, file));
            }
        }
        Ok(())
    }

    /// The ids `start..end` (`end` at most the length).
    pub fn slice(&self, start: usize, end: usize) -> io::Result<Vec<String>> {
        let end = end.min(self.len);
        if start >= end {
            return Ok(Vec::new());
        }
        let Some(spill) = &self.file else {
            return Ok(self.mem[start..end].to_vec());
        };
        let mut guard = spill.reader.lock().unwrap_or_else(|e| e.into_inner());
        let Some(r) = guard.as_mut() else {
            return Err(io::Error::other(
                "the list of ids was read before it was finished",
            ));
        };
        let mark = start / MARK_EVERY;
        r.seek(SeekFrom::Start(spill.marks[mark]))?;
        let mut out = Vec::with_capacity(end - start);
        for i in mark * MARK_EVERY..end {
            let mut n = [0u8; 4];
            r.read_exact(&mut n)?;
            let mut buf = vec![0u8; u32::from_le_bytes(n) as usize];
            r.read_exact(&mut buf)?;
            if i >= start {
                out.push(String::from_utf8(buf).map_err(io::Error::other)?);
            }
        }
        Ok(out)
    }
}

impl Spill {
    fn write(&mut self, index: usize, id: &str) -> io::Result<()> {
        if index.is_multiple_of(MARK_EVERY) {
            self.marks.push(self.bytes);
        }
        let len = u32::try_from(id.len()).map_err(io::Error::other)?;
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other("the list of ids was written after it was finished"))?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(id.as_bytes())?;
        self.bytes += 4 + id.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::IdList;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("user-{i:07}-é")).collect()
    }

    /// A finished list of `all`, at most `in_memory` of them in memory.
    fn filled(all: &[String], in_memory: usize) -> IdList {
        let mut l = IdList::with_memory(in_memory);
        for id in all {
            l.push(id.clone()).unwrap();
        }
        l.finish().unwrap();
        l
    }

    #[test]
    fn a_list_past_its_memory_reads_back_from_its_file() {
        let all = ids(5000);
        let l = filled(&all, 100);
        assert!(l.in_file());
        assert_eq!(l.len(), 5000);
        // Forward, across marks, backwards (a failed batch gives its users back), the tail.
        for (s, e) in [(0, 7), (1000, 3100), (1023, 1025), (4990, 6000), (17, 2048)] {
            assert_eq!(
                l.slice(s, e).unwrap(),
                all[s..e.min(5000)].to_vec(),
                "{s}..{e}"
            );
        }
        assert!(l.slice(5000, 5100).unwrap().is_empty());
    }

    #[test]
    fn a_short_list_stays_in_memory() {
        let all = ids(10);
        let l = filled(&all, 100);
        assert!(!l.in_file());
        assert_eq!(l.slice(3, 8).unwrap(), all[3..8].to_vec());
    }
}
