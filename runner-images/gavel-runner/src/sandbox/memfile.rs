//! In-memory files for a run's extra descriptors ([`super::RunFds::extra`]): nothing of them is
//! ever on a disk, and the host opens nothing inside the sandbox. The program reaches them as
//! `/dev/fd/3`…; memfds are open to every uid (mode 0777, or 0666 under `vm.memfd_noexec`), so
//! a program of another uid may open them again, and the seals (not the mode) are what keeps it
//! from changing a sealed one.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

/// Everything that could change a file's contents, and further sealing.
const SEALS: libc::c_int = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;

/// A file holding `bytes` that the program can read but never change (nor can anyone else).
pub fn sealed_file(name: &str, bytes: &[u8]) -> io::Result<OwnedFd> {
    let mut file = File::from(memfd(name, libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)?);
    file.write_all(bytes)?;
    // For a program that reads the descriptor itself rather than opening `/dev/fd/N` afresh.
    file.seek(SeekFrom::Start(0))?;
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file.into())
}

/// An empty file the program may write (and truncate, and grow): an interactor's output.
pub fn scratch_file(name: &str) -> io::Result<OwnedFd> {
    memfd(name, libc::MFD_CLOEXEC)
}

/// The contents of `fd` from its start, at most `cap` bytes, and whether it held more. Read by
/// position: the program may have written through a file description of its own.
pub fn read_capped(fd: &OwnedFd, cap: u64) -> io::Result<(Vec<u8>, bool)> {
    let file = File::from(fd.try_clone()?);
    // One byte past the cap tells whether there was more.
    let want = usize::try_from(cap.saturating_add(1)).unwrap_or(usize::MAX);
    let mut data = Vec::new();
    let mut chunk = vec![0u8; want.min(1 << 16)];
    while data.len() < want {
        let room = (want - data.len()).min(chunk.len());
        let Some(buf) = chunk.get_mut(..room) else { break };
        let n = match file.read_at(buf, data.len() as u64) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        data.extend_from_slice(buf.get(..n).unwrap_or(&[]));
    }
    let more = data.len() as u64 > cap;
    data.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    Ok((data, more))
}

fn memfd(name: &str, flags: libc::c_uint) -> io::Result<OwnedFd> {
    let name = CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a file name"))?;
    // SAFETY: name is NUL-terminated.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
