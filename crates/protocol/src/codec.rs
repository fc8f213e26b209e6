//! The byte-level encoding: a bounds-checked reader over `&[u8]` and a writer into `&mut [u8]`.
//!
//! Integers are LEB128 varints (unsigned) or zigzag varints (signed), at most 10 bytes, and must
//! be minimal: a non-canonical varint is an error, so every value has exactly one encoding.
//! Nothing here indexes a slice directly; every access goes through `get`, so no input can
//! make the reader panic.

use crate::error::{DecodeError, EncodeError};

/// Reads values from a borrowed byte slice.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid),
        }
    }

    /// An unsigned LEB128 varint, minimal, fitting in 64 bits.
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let b = self.u8()?;
            let low = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(DecodeError::OutOfRange);
            }
            value |= low << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(DecodeError::NonCanonical);
                }
                return Ok(value);
            }
        }
        Err(DecodeError::OutOfRange)
    }

    pub(crate) fn u16v(&mut self) -> Result<u16, DecodeError> {
        u16::try_from(self.varint()?).map_err(|_| DecodeError::OutOfRange)
    }

    pub(crate) fn u32v(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.varint()?).map_err(|_| DecodeError::OutOfRange)
    }

    /// A zigzag varint.
    pub(crate) fn i64v(&mut self) -> Result<i64, DecodeError> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    pub(crate) fn i32v(&mut self) -> Result<i32, DecodeError> {
        i32::try_from(self.i64v()?).map_err(|_| DecodeError::OutOfRange)
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub(crate) fn lbytes(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| DecodeError::OutOfRange)?;
        if n > max {
            return Err(DecodeError::OutOfRange);
        }
        self.bytes(n)
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        out
    }

    /// Succeeds only when every byte was read.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// Writes values into a caller's buffer.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.pos
    }

    pub(crate) fn written(&self) -> &[u8] {
        self.buf.get(..self.pos).unwrap_or(&[])
    }

    pub(crate) fn written_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut(..self.pos).unwrap_or(&mut [])
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos.checked_add(bytes.len()).ok_or(EncodeError::BufferTooSmall)?;
        self.buf
            .get_mut(self.pos..end)
            .ok_or(EncodeError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, b: u8) -> Result<(), EncodeError> {
        self.put(&[b])
    }

    pub(crate) fn bool(&mut self, b: bool) -> Result<(), EncodeError> {
        self.u8(u8::from(b))
    }

    pub(crate) fn varint(&mut self, mut v: u64) -> Result<(), EncodeError> {
        let mut tmp = [0u8; 10];
        let mut n = 0;
        for slot in tmp.iter_mut() {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            n += 1;
            if v == 0 {
                *slot = b;
                break;
            }
            *slot = b | 0x80;
        }
        self.put(tmp.get(..n).unwrap_or(&[]))
    }

    pub(crate) fn i64v(&mut self, v: i64) -> Result<(), EncodeError> {
        self.varint(((v << 1) ^ (v >> 63)) as u64)
    }

    pub(crate) fn lbytes(&mut self, bytes: &[u8], max: usize) -> Result<(), EncodeError> {
        if bytes.len() > max {
            return Err(EncodeError::Invalid);
        }
        self.varint(bytes.len() as u64)?;
        self.put(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_are_canonical() {
        let mut buf = [0u8; 16];
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut w = Writer::new(&mut buf);
            w.varint(v).unwrap();
            let n = w.len();
            let mut r = Reader::new(&buf[..n]);
            assert_eq!(r.varint().unwrap(), v);
            r.finish().unwrap();
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -1_700_000_000] {
            let mut w = Writer::new(&mut buf);
            w.i64v(v).unwrap();
            let n = w.len();
            assert_eq!(Reader::new(&buf[..n]).i64v().unwrap(), v);
        }
        assert_eq!(Reader::new(&[0x80, 0x00]).varint(), Err(DecodeError::NonCanonical));
        assert_eq!(Reader::new(&[0x80]).varint(), Err(DecodeError::Truncated));
        let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Reader::new(&too_big).varint(), Err(DecodeError::OutOfRange));
        let too_long = [0x80u8; 11];
        assert!(Reader::new(&too_long).varint().is_err());
        assert_eq!(Writer::new(&mut [0u8; 1]).varint(300), Err(EncodeError::BufferTooSmall));
    }
}
