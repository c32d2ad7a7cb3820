//! What a CGI program's standard input gets: the request body streamed, or,
//! when its length is unknown (chunked), spooled first to learn it — in
//! memory up to 1 MiB, in an unlinked temporary file past that.

use std::io::{self, Read, Write};

use crate::gateway::Input;
use crate::web::temp_file;

/// Spooled bodies up to this size stay in memory; larger ones go to a file.
const SPOOL_MEMORY: usize = 1024 * 1024;

/// What the program's standard input gets.
#[derive(Debug)]
pub(super) enum Stdin {
    Spooled(Vec<u8>),
    /// A spooled body past `SPOOL_MEMORY`, in an unlinked temporary file.
    File(std::fs::File),
    Stream(Input),
}

/// Reads a body of unknown length to learn it: memory first, a temporary
/// file past `SPOOL_MEMORY`. `None` when it exceeds `max`.
pub(super) fn spool(input: &mut Input, max: u64) -> io::Result<Option<(Stdin, u64)>> {
    let mut memory = Vec::new();
    input.take(SPOOL_MEMORY as u64 + 1).read_to_end(&mut memory)?;
    if memory.len() <= SPOOL_MEMORY {
        let length = memory.len() as u64;
        return Ok((length <= max).then_some((Stdin::Spooled(memory), length)));
    }
    let mut file = temp_file()?;
    file.write_all(&memory)?;
    let rest = io::copy(&mut input.take(max.saturating_add(1).saturating_sub(memory.len() as u64)), &mut file)?;
    let length = memory.len() as u64 + rest;
    if length > max {
        return Ok(None);
    }
    io::Seek::rewind(&mut file)?;
    Ok(Some((Stdin::File(file), length)))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn small_bodies_stay_in_memory_large_ones_go_to_an_unlinked_file() {
        let mut small = Input::buffered(Bytes::from_static(b"hello"));
        let Some((Stdin::Spooled(bytes), 5)) = spool(&mut small, 100).unwrap() else { panic!("not in memory") };
        assert_eq!(bytes, b"hello");

        let body = vec![7u8; SPOOL_MEMORY + 10];
        let mut large = Input::buffered(Bytes::from(body.clone()));
        let Some((Stdin::File(mut file), length)) = spool(&mut large, u64::MAX).unwrap() else {
            panic!("not in a file")
        };
        assert_eq!(length, body.len() as u64);
        let mut back = Vec::new();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn a_body_over_the_limit_is_refused_in_memory_and_on_file() {
        assert!(spool(&mut Input::buffered(Bytes::from_static(b"hello")), 4).unwrap().is_none());
        let mut large = Input::buffered(Bytes::from(vec![0u8; SPOOL_MEMORY + 10]));
        assert!(spool(&mut large, SPOOL_MEMORY as u64 + 9).unwrap().is_none());
    }
}
