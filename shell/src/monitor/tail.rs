//! Following one file: complete lines only, rotation detected by
//! (device, inode), truncation by a shrinking size (MON-3, MON-4, MON-5).

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

/// Pause between polls at the end of a followed file.
const POLL: Duration = Duration::from_millis(100);
/// Pause between attempts to open a file that does not exist yet.
const RETRY_OPEN: Duration = Duration::from_millis(200);
/// Bytes read per call.
const CHUNK: usize = 64 * 1024;

/// Identity of an open file: (device, inode).
type FileId = (u64, u64);

/// What a [`Tail`] reports besides lines.
#[derive(Debug)]
pub enum Notice {
    /// Following, and the file does not exist (yet).
    Waiting,
    /// One-shot, and the file does not exist.
    Missing,
    /// The file exists but cannot be read.
    Unreadable(std::io::Error),
}

/// Reads the complete lines of one file, optionally following it.
pub struct Tail {
    path: PathBuf,
    follow: bool,
    /// Start at the beginning of the file first opened (else at its end).
    from_start: bool,
}

struct Open {
    file: File,
    id: FileId,
    pos: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// A tail of `path`. One-shot when `follow` is false (always from the
    /// start); when following, the first file found is read from its start
    /// only if `from_start`, later files (rotation, creation) always are.
    pub fn new(path: PathBuf, follow: bool, from_start: bool) -> Tail {
        Tail {
            path,
            follow,
            from_start: from_start || !follow,
        }
    }

    /// Runs until the file is exhausted (one-shot) or `line` returns false.
    /// `line` gets each complete line without its `\n`.
    pub fn run(self, mut line: impl FnMut(Vec<u8>) -> bool, mut notice: impl FnMut(Notice)) {
        let mut open: Option<Open> = None;
        // The first file seen may be started at its end; any later one is new.
        let mut first = true;
        let mut waiting_told = false;
        let mut unreadable_told = false;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let Some(cur) = open.as_mut() else {
                match self.open(first) {
                    Ok(o) => {
                        open = Some(o);
                        unreadable_told = false;
                    }
                    Err(e) => {
                        let missing = e.kind() == ErrorKind::NotFound;
                        if !self.follow {
                            notice(if missing {
                                Notice::Missing
                            } else {
                                Notice::Unreadable(e)
                            });
                            return;
                        }
                        if missing && !waiting_told {
                            waiting_told = true;
                            notice(Notice::Waiting);
                        } else if !missing && !unreadable_told {
                            unreadable_told = true;
                            notice(Notice::Unreadable(e));
                        }
                        std::thread::sleep(RETRY_OPEN);
                    }
                }
                first = false;
                continue;
            };
            match cur.file.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => {
                    cur.pos += n as u64;
                    if !emit(&mut cur.partial, &buf[..n], &mut line) {
                        return;
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    notice(Notice::Unreadable(e));
                    if !self.follow {
                        return;
                    }
                    open = None;
                    std::thread::sleep(RETRY_OPEN);
                    continue;
                }
            }
            // End of file. A trailing line without `\n` is not complete yet.
            if !self.follow {
                return;
            }
            match std::fs::metadata(&self.path) {
                Ok(m) if (m.dev(), m.ino()) != cur.id => {
                    // Rotated: finish the old file, then read the new one
                    // from its start.
                    if !drain(cur, &mut buf, &mut line) {
                        return;
                    }
                    open = None;
                    continue;
                }
                Ok(m) if m.len() < cur.pos => {
                    // Truncated in place: start over.
                    if cur.file.seek(SeekFrom::Start(0)).is_err() {
                        open = None;
                        continue;
                    }
                    cur.pos = 0;
                    cur.partial.clear();
                    continue;
                }
                // Unchanged, or removed and not yet replaced: keep the old
                // handle and poll.
                _ => std::thread::sleep(POLL),
            }
        }
    }

    fn open(&self, first: bool) -> std::io::Result<Open> {
        let mut file = File::open(&self.path)?;
        let m = file.metadata()?;
        if m.is_dir() {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "is a directory",
            ));
        }
        let pos = if first && !self.from_start {
            file.seek(SeekFrom::End(0))?
        } else {
            0
        };
        Ok(Open {
            file,
            id: (m.dev(), m.ino()),
            pos,
            partial: Vec::new(),
        })
    }
}

/// Reads `cur` to its end, emitting complete lines; false when told to stop.
fn drain(cur: &mut Open, buf: &mut [u8], line: &mut impl FnMut(Vec<u8>) -> bool) -> bool {
    loop {
        match cur.file.read(buf) {
            Ok(0) => return true,
            Ok(n) => {
                cur.pos += n as u64;
                if !emit(&mut cur.partial, &buf[..n], line) {
                    return false;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

/// Appends `data` to `partial` and hands out every complete line.
fn emit(partial: &mut Vec<u8>, data: &[u8], line: &mut impl FnMut(Vec<u8>) -> bool) -> bool {
    let mut rest = data;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        let mut l = std::mem::take(partial);
        l.extend_from_slice(&rest[..i]);
        rest = &rest[i + 1..];
        if !line(l) {
            return false;
        }
    }
    partial.extend_from_slice(rest);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_splits_and_keeps_the_partial_tail() {
        let mut partial = Vec::new();
        let mut got = Vec::new();
        assert!(emit(&mut partial, b"a\nbc", &mut |l| {
            got.push(l);
            true
        }));
        assert_eq!(got, [b"a".to_vec()]);
        assert_eq!(partial, b"bc");
        assert!(emit(&mut partial, b"d\n\ne", &mut |l| {
            got.push(l);
            true
        }));
        assert_eq!(got, [b"a".to_vec(), b"bcd".to_vec(), Vec::new()]);
        assert_eq!(partial, b"e");
    }

    #[test]
    fn one_shot_reads_complete_lines_and_reports_missing() {
        let dir = std::env::temp_dir().join(format!("firma-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.log");
        std::fs::write(&p, "one\ntwo\nthr").unwrap();
        let mut got = Vec::new();
        Tail::new(p.clone(), false, false).run(
            |l| {
                got.push(String::from_utf8(l).unwrap());
                true
            },
            |n| panic!("{n:?}"),
        );
        assert_eq!(got, ["one", "two"]);
        let mut missing = false;
        Tail::new(dir.join("nope"), false, false)
            .run(|_| true, |n| missing = matches!(n, Notice::Missing));
        assert!(missing);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
