//! Just enough of RESP2 for the claim pipeline: commands out, replies in.

use std::io::{self, BufRead};

/// One reply of Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
}

impl Reply {
    /// An integer, or a bulk string holding one (Lua returns both kinds for numbers).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    pub fn as_string(&self) -> Option<String> {
        match self {
            Reply::Bulk(b) => String::from_utf8(b.clone()).ok(),
            Reply::Status(s) => Some(s.clone()),
            Reply::Int(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// Appends one command (an array of bulk strings) to `out`.
pub fn encode<I, A>(out: &mut Vec<u8>, args: I)
where
    I: ExactSizeIterator<Item = A>,
    A: AsRef<[u8]>,
{
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(arg.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad RESP reply: {what}"),
    )
}

fn line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let n = reader.read_until(b'\n', buf)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "Redis closed the connection",
        ));
    }
    if buf.len() < 2 || buf[buf.len() - 2] != b'\r' {
        return Err(bad("line without CRLF"));
    }
    buf.truncate(buf.len() - 2);
    Ok(())
}

fn number(bytes: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("not a number"))
}

/// Reads one complete reply.
pub fn read<R: BufRead>(reader: &mut R) -> io::Result<Reply> {
    let mut buf = Vec::with_capacity(64);
    read_with(reader, &mut buf, 0)
}

fn read_with<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>, depth: usize) -> io::Result<Reply> {
    if depth > 8 {
        return Err(bad("nested too deep"));
    }
    line(reader, buf)?;
    let Some((&kind, rest)) = buf.split_first() else {
        return Err(bad("empty line"));
    };
    match kind {
        b'+' => Ok(Reply::Status(String::from_utf8_lossy(rest).into_owned())),
        b'-' => Ok(Reply::Error(String::from_utf8_lossy(rest).into_owned())),
        b':' => Ok(Reply::Int(number(rest)?)),
        b'$' => {
            let len = number(rest)?;
            if len < 0 {
                return Ok(Reply::Nil);
            }
            let len = usize::try_from(len).map_err(|_| bad("bulk length"))?;
            let mut data = vec![0u8; len + 2];
            reader.read_exact(&mut data)?;
            if &data[len..] != b"\r\n" {
                return Err(bad("bulk without CRLF"));
            }
            data.truncate(len);
            Ok(Reply::Bulk(data))
        }
        b'*' => {
            let len = number(rest)?;
            if len < 0 {
                return Ok(Reply::Nil);
            }
            let len = usize::try_from(len).map_err(|_| bad("array length"))?;
            let mut items = Vec::with_capacity(len.min(4096));
            for _ in 0..len {
                items.push(read_with(reader, buf, depth + 1)?);
            }
            Ok(Reply::Array(items))
        }
        _ => Err(bad("unknown type byte")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_command() {
        let mut out = Vec::new();
        encode(&mut out, ["SET", "k", "v"].iter());
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }

    #[test]
    fn reads_nested_replies() {
        let raw = b"*3\r\n:1\r\n$2\r\nok\r\n*2\r\n$-1\r\n-ERR no\r\n+PONG\r\n";
        let mut reader = &raw[..];
        let reply = read(&mut reader).unwrap();
        assert_eq!(
            reply,
            Reply::Array(vec![
                Reply::Int(1),
                Reply::Bulk(b"ok".to_vec()),
                Reply::Array(vec![Reply::Nil, Reply::Error("ERR no".into())]),
            ])
        );
        assert_eq!(read(&mut reader).unwrap(), Reply::Status("PONG".into()));
        assert!(read(&mut reader).is_err());
    }

    #[test]
    fn refuses_garbage() {
        for raw in [&b"?x\r\n"[..], b"$5\r\nab\r\n", b":x\r\n", b"+no crlf"] {
            let mut reader = raw;
            assert!(read(&mut reader).is_err(), "{raw:?}");
        }
    }
}
