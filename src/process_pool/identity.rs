//! Linux: is a worker running the parent's program? The identity of an
//! executable file (`dev, ino, size, mtime`), a hash of its contents, and
//! the worker's check of both against the parent's `Hello`.

use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::{Mutex, PoisonError};

use super::protocol::{ExeId, Hello};
use crate::remote::registry;

/// The identity of the file at `path` (following links).
pub(crate) fn exe_id(path: &std::path::Path) -> Option<ExeId> {
    let meta = std::fs::metadata(path).ok()?;
    Some(ExeId {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
    })
}

/// A hash of this process's own executable, computed once, by one thread
/// (others wait for it), and read by offset: under valgrind an open of
/// `/proc/self/exe` is a duplicate of one descriptor whose file offset
/// every open shares, so two threads reading it in turn each got part of
/// the file, and a worker started then was refused as "another binary".
pub(crate) fn own_exe_hash() -> io::Result<u64> {
    static HASH: Mutex<Option<u64>> = Mutex::new(None);
    let mut hash = HASH.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(h) = *hash {
        return Ok(h);
    }
    let file = std::fs::File::open("/proc/self/exe")?;
    let len = usize::try_from(file.metadata()?.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "executable too large"))?;
    let mut bytes = vec![0; len];
    file.read_exact_at(&mut bytes, 0)?;
    let h = registry::hash_bytes(0, &bytes);
    *hash = Some(h);
    Ok(h)
}

/// Same registered functions, and the same executable (the same file, or
/// one with the same contents).
pub(crate) fn check_identity(hello: &Hello) -> Result<(), String> {
    if hello.registry != registry::digest() {
        return Err(
            "the worker's registered functions differ from the parent's: \
             it was built from a different binary"
                .to_owned(),
        );
    }
    if exe_id("/proc/self/exe".as_ref()) == Some(hello.exe) {
        return Ok(());
    }
    let own = own_exe_hash().map_err(|err| format!("cannot read its own executable: {err}"))?;
    match hello.exe_hash {
        Some(theirs) if theirs == own => Ok(()),
        _ => Err(format!(
            "the worker's executable differs from the parent's \
             (worker fingerprint {own:016x}, parent {})",
            hello
                .exe_hash
                .map_or("unknown".to_owned(), |h| format!("{h:016x}"))
        )),
    }
}
