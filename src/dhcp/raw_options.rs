//! [`RawOptions`]: a strict, allocation-bounded walk over a request's option area.
//!
//! dhcproto is lenient where a server must not be (it stops at the first option it
//! cannot decode and silently drops the rest, it keeps only the first option-93
//! architecture, and some of its typed decoders `debug_assert!` on lengths). So every
//! request is first walked here: each option's length must fit the packet, split
//! options are concatenated (RFC 3396), option overload (52) is followed into the
//! `file` and `sname` fields, and the options the server reads have their lengths
//! checked. Only then is the packet handed to dhcproto (see [`super::request`]).

use std::net::Ipv4Addr;

use super::error::ParseError;

/// Option codes this module knows by name.
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const DOMAIN: u8 = 15;
    pub const VENDOR_EXTENSIONS: u8 = 43;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMS: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAX_SIZE: u8 = 57;
    pub const RENEWAL: u8 = 58;
    pub const REBINDING: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const TFTP_SERVER: u8 = 66;
    pub const BOOTFILE: u8 = 67;
    pub const USER_CLASS: u8 = 77;
    pub const RELAY_AGENT: u8 = 82;
    pub const CLIENT_ARCH: u8 = 93;
    pub const CLIENT_NDI: u8 = 94;
    pub const CLIENT_UUID: u8 = 97;
    pub const IPXE_ENCAP: u8 = 175;
    pub const IPXE_NO_PXEDHCP: u8 = 176;
    pub const END: u8 = 255;
}

/// Options of one request: code -> value, split options concatenated, in the order
/// each code first appeared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOptions {
    opts: Vec<(u8, Vec<u8>)>,
}

/// Fixed lengths of the options the server reads as numbers or addresses.
fn expected_len(code: u8) -> Option<usize> {
    match code {
        code::MESSAGE_TYPE | code::OVERLOAD => Some(1),
        code::MAX_SIZE => Some(2),
        code::REQUESTED_IP | code::SERVER_ID | code::LEASE_TIME => Some(4),
        _ => None,
    }
}

impl RawOptions {
    /// Walks one option area (after the magic cookie, or a `file`/`sname` field when
    /// overloaded) into `self`. Stops at End; running out of bytes without End is
    /// accepted (many stacks pad short), an option running past the end is not.
    fn walk(&mut self, area: &[u8]) -> Result<(), ParseError> {
        let mut i = 0;
        while let Some(&c) = area.get(i) {
            match c {
                code::PAD => i += 1,
                code::END => break,
                c => {
                    let len = *area
                        .get(i + 1)
                        .ok_or(ParseError::TruncatedOption { code: c })?
                        as usize;
                    let value = area
                        .get(i + 2..i + 2 + len)
                        .ok_or(ParseError::TruncatedOption { code: c })?;
                    match self.opts.iter_mut().find(|(k, _)| *k == c) {
                        Some((_, v)) => v.extend_from_slice(value),
                        None => self.opts.push((c, value.to_vec())),
                    }
                    i += 2 + len;
                }
            }
        }
        Ok(())
    }

    /// Walks a whole request: `packet` is the full datagram, at least 240 bytes with the
    /// magic cookie at 236 (checked by the caller).
    pub fn parse(packet: &[u8]) -> Result<RawOptions, ParseError> {
        let mut raw = RawOptions::default();
        raw.walk(packet.get(240..).unwrap_or_default())?;
        // Option overload (RFC 2132 9.3): 1 = file holds options, 2 = sname, 3 = both.
        if let Some(&[overload]) = raw.get(code::OVERLOAD) {
            if overload & 1 != 0 {
                raw.walk(packet.get(108..236).unwrap_or_default())?;
            }
            if overload & 2 != 0 {
                raw.walk(packet.get(44..108).unwrap_or_default())?;
            }
        }
        for (c, v) in &raw.opts {
            if let Some(n) = expected_len(*c) {
                if v.len() != n {
                    return Err(ParseError::BadOptionLength {
                        code: *c,
                        len: v.len(),
                    });
                }
            }
        }
        if let Some(a) = raw.get(code::CLIENT_ARCH) {
            if a.is_empty() || a.len() % 2 != 0 {
                return Err(ParseError::BadOptionLength {
                    code: code::CLIENT_ARCH,
                    len: a.len(),
                });
            }
        }
        Ok(raw)
    }

    /// The packet's fixed header and magic cookie followed by only the options in
    /// `codes` (in that order), re-encoded from the checked values (split into 255-byte
    /// pieces as RFC 3396 allows) and ended: what is safe to hand to dhcproto.
    pub fn sanitized(&self, packet: &[u8], codes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(240 + 64);
        out.extend_from_slice(packet.get(..240).unwrap_or_default());
        for &c in codes {
            let Some(v) = self.get(c) else { continue };
            for chunk in v.chunks(255) {
                out.push(c);
                out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(chunk);
            }
        }
        out.push(code::END);
        out
    }

    /// The value of an option, if present.
    pub fn get(&self, c: u8) -> Option<&[u8]> {
        self.opts
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, v)| v.as_slice())
    }

    /// Every option, in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.opts.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    /// A four-byte option as an address.
    pub fn ipv4(&self, c: u8) -> Option<Ipv4Addr> {
        match self.get(c)? {
            &[a, b, c, d] => Some(Ipv4Addr::new(a, b, c, d)),
            _ => None,
        }
    }

    /// A one-byte option.
    pub fn u8(&self, c: u8) -> Option<u8> {
        match self.get(c)? {
            &[v] => Some(v),
            _ => None,
        }
    }

    /// A two-byte big-endian option.
    pub fn u16(&self, c: u8) -> Option<u16> {
        match self.get(c)? {
            &[a, b] => Some(u16::from_be_bytes([a, b])),
            _ => None,
        }
    }

    /// Every architecture of option 93 (RFC 4578 allows a list; dhcproto keeps only the
    /// first).
    pub fn archs(&self) -> Vec<u16> {
        self.get(code::CLIENT_ARCH)
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    /// True when the client says it is iPXE: user class (77) "iPXE" (iPXE sends it raw,
    /// RFC 3004 clients as length-prefixed items) or iPXE's encapsulated option 175.
    pub fn is_ipxe(&self) -> bool {
        if self.get(code::IPXE_ENCAP).is_some() {
            return true;
        }
        let Some(uc) = self.get(code::USER_CLASS) else {
            return false;
        };
        if uc == b"iPXE" {
            return true;
        }
        let mut rest = uc;
        while let Some((&len, tail)) = rest.split_first() {
            let Some(item) = tail.get(..usize::from(len)) else {
                return false;
            };
            if item == b"iPXE" {
                return true;
            }
            rest = &tail[usize::from(len)..];
        }
        false
    }

    /// Option 12 as text (lossy: clients do send non-UTF-8 names).
    pub fn hostname(&self) -> Option<String> {
        let h = self.get(code::HOSTNAME)?;
        let s = String::from_utf8_lossy(h);
        let s = s.trim_end_matches('\0').trim();
        (!s.is_empty()).then(|| s.to_string())
    }
}
