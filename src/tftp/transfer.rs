//! [`Transfer`]: the pure state machine of one read transfer — OACK, lock-step and RFC 7440
//! windows, retransmits on timeout, block-number rollover, and resuming at the block a
//! client acknowledges (transfer takeover). No sockets, no clocks: the I/O loop feeds it
//! ACKs and timeouts and carries out the [`Action`]s.
//!
//! Blocks are numbered absolutely inside (`u64`, block 1 = the first data block, block 0 =
//! the OACK); on the wire the number is the low 16 bits, so it rolls over from 65535 to 0
//! like tftpd-hpa and atftp expect.

/// What the I/O loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the OACK (again).
    SendOack,
    /// Send data blocks `first..=last` (absolute numbers).
    SendBlocks {
        /// First block.
        first: u64,
        /// Last block (inclusive).
        last: u64,
    },
    /// Keep waiting (the packet changed nothing; the retransmit deadline stays).
    Wait,
    /// The client acknowledged the last block.
    Done,
    /// Too many retransmits without progress.
    GiveUp,
}

/// Parameters fixed at negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// File size in bytes.
    pub size: u64,
    /// Bytes per block (>= 1).
    pub blksize: u16,
    /// Blocks per window (>= 1).
    pub windowsize: u16,
    /// Retransmits of one window without progress before giving up.
    pub max_retries: u32,
}

/// One read transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    p: Params,
    last_block: u64,
    /// Highest block the client acknowledged (0: none, or the OACK).
    acked: u64,
    /// Highest block sent in the current window.
    sent: u64,
    oack_pending: bool,
    /// `Some(hint)`: taken over, waiting for the client's retransmitted ACK; `hint` is
    /// the last acknowledged block the previous server reported.
    resuming: Option<u64>,
    retries: u32,
}

/// The wire number of absolute block `b`.
pub fn wire(b: u64) -> u16 {
    (b & 0xffff) as u16
}

impl Transfer {
    fn new(p: Params) -> Transfer {
        let p = Params {
            blksize: p.blksize.max(1),
            windowsize: p.windowsize.max(1),
            ..p
        };
        Transfer {
            last_block: p.size / u64::from(p.blksize) + 1,
            p,
            acked: 0,
            sent: 0,
            oack_pending: false,
            resuming: None,
            retries: 0,
        }
    }

    /// A new transfer and its first action: the OACK when options were accepted, else
    /// the first window.
    pub fn start(p: Params, oack: bool) -> (Transfer, Action) {
        let mut t = Transfer::new(p);
        if oack {
            t.oack_pending = true;
            (t, Action::SendOack)
        } else {
            let a = t.send_window();
            (t, a)
        }
    }

    /// A transfer taken over from another server: nothing is sent until the client's
    /// (retransmitted) ACK names the block it has; `acked_hint` is the progress last
    /// reported for it (only used to place a 16-bit block number past a rollover).
    pub fn resume(p: Params, acked_hint: u64) -> Transfer {
        let mut t = Transfer::new(p);
        t.resuming = Some(acked_hint.min(t.last_block));
        t
    }

    /// Parameters.
    pub fn params(&self) -> &Params {
        &self.p
    }

    /// Highest block the client acknowledged.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Number of the last block (the one shorter than `blksize`, possibly empty).
    pub fn last_block(&self) -> u64 {
        self.last_block
    }

    /// Whether the transfer is still waiting for its takeover ACK.
    pub fn is_resuming(&self) -> bool {
        self.resuming.is_some()
    }

    /// Byte offset and length of block `b` (>= 1).
    pub fn block_range(&self, b: u64) -> (u64, usize) {
        let bs = u64::from(self.p.blksize);
        let off = b.saturating_sub(1).saturating_mul(bs);
        let len = self.p.size.saturating_sub(off).min(bs);
        (off, len as usize)
    }

    fn send_window(&mut self) -> Action {
        let first = self.acked + 1;
        let last = (self.acked + u64::from(self.p.windowsize)).min(self.last_block);
        self.sent = last;
        Action::SendBlocks { first, last }
    }

    fn progress_to(&mut self, a: u64) -> Action {
        self.acked = a;
        self.retries = 0;
        if a >= self.last_block {
            Action::Done
        } else {
            self.send_window()
        }
    }

    /// The client acknowledged wire block `w`.
    pub fn on_ack(&mut self, w: u16) -> Action {
        if let Some(hint) = self.resuming {
            let a = nearest_with_low_bits(hint, w);
            if a > self.last_block {
                return Action::Wait;
            }
            self.resuming = None;
            self.oack_pending = false;
            return self.progress_to(a);
        }
        if self.oack_pending {
            if w != 0 {
                return Action::Wait;
            }
            self.oack_pending = false;
            return self.progress_to(0);
        }
        // The block in acked..=sent with these low bits (windows are far below 2^16).
        let a = self.acked + u64::from(w.wrapping_sub(wire(self.acked)));
        if a <= self.acked || a > self.sent {
            // A duplicate (the Sorcerer's Apprentice bug: never answer it) or stale ACK.
            return Action::Wait;
        }
        self.progress_to(a)
    }

    /// No packet came within the retransmit timeout.
    pub fn on_timeout(&mut self) -> Action {
        if self.resuming.is_some() {
            return Action::Wait;
        }
        self.retries += 1;
        if self.retries > self.p.max_retries {
            return Action::GiveUp;
        }
        if self.oack_pending {
            Action::SendOack
        } else {
            Action::SendBlocks {
                first: self.acked + 1,
                last: self.sent.max(self.acked + 1).min(self.last_block),
            }
        }
    }
}

/// The value with low 16 bits `w` closest to `hint`, never negative.
fn nearest_with_low_bits(hint: u64, w: u16) -> u64 {
    let base = (hint & !0xffff) | u64::from(w);
    [
        base.checked_sub(0x1_0000),
        Some(base),
        base.checked_add(0x1_0000),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|c| c.abs_diff(hint))
    .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    fn p(size: u64, blksize: u16, windowsize: u16) -> Params {
        Params {
            size,
            blksize,
            windowsize,
            max_retries: 3,
        }
    }

    #[test]
    fn lock_step_with_oack() {
        let (mut t, a) = Transfer::start(p(1000, 512, 1), true);
        assert_eq!(a, Action::SendOack);
        assert_eq!(t.on_ack(1), Action::Wait);
        assert_eq!(t.on_ack(0), Action::SendBlocks { first: 1, last: 1 });
        assert_eq!(t.block_range(1), (0, 512));
        assert_eq!(t.on_ack(0), Action::Wait, "duplicate ACK is not answered");
        assert_eq!(t.on_ack(1), Action::SendBlocks { first: 2, last: 2 });
        assert_eq!(t.block_range(2), (512, 488));
        assert_eq!(t.on_ack(2), Action::Done);
    }

    #[test]
    fn exact_multiple_ends_with_an_empty_block() {
        let (mut t, a) = Transfer::start(p(1024, 512, 1), false);
        assert_eq!(a, Action::SendBlocks { first: 1, last: 1 });
        assert_eq!(t.last_block(), 3);
        assert_eq!(t.block_range(3), (1024, 0));
        t.on_ack(1);
        t.on_ack(2);
        assert_eq!(t.on_ack(3), Action::Done);
    }

    #[test]
    fn windows_partial_acks_and_timeouts() {
        let (mut t, _) = Transfer::start(p(10 * 512 + 1, 512, 4), false);
        assert_eq!(t.on_ack(4), Action::SendBlocks { first: 5, last: 8 });
        assert_eq!(t.on_ack(6), Action::SendBlocks { first: 7, last: 10 });
        assert_eq!(t.on_timeout(), Action::SendBlocks { first: 7, last: 10 });
        assert_eq!(t.on_timeout(), Action::SendBlocks { first: 7, last: 10 });
        assert_eq!(
            t.on_ack(10),
            Action::SendBlocks {
                first: 11,
                last: 11
            }
        );
        assert_eq!(t.on_ack(11), Action::Done);
    }

    #[test]
    fn gives_up_after_max_retries() {
        let (mut t, _) = Transfer::start(p(100, 512, 1), true);
        for _ in 0..3 {
            assert_eq!(t.on_timeout(), Action::SendOack);
        }
        assert_eq!(t.on_timeout(), Action::GiveUp);
    }

    #[test]
    fn rollover() {
        let n = 70_000u64;
        let (mut t, _) = Transfer::start(p(n * 8, 8, 1), false);
        for b in 1..=n {
            assert_eq!(
                t.on_ack(wire(b)),
                Action::SendBlocks {
                    first: b + 1,
                    last: b + 1
                }
            );
        }
        assert_eq!(t.on_ack(wire(n + 1)), Action::Done);
    }

    #[test]
    fn resume_waits_for_the_client_then_continues() {
        let mut t = Transfer::resume(p(200_000 * 8, 8, 4), 65_000);
        assert_eq!(t.on_timeout(), Action::Wait);
        // The client had got to block 66_000 (wire 464) past the hint.
        assert_eq!(
            t.on_ack(wire(66_000)),
            Action::SendBlocks {
                first: 66_001,
                last: 66_004
            }
        );
        assert!(!t.is_resuming());
        // Resume right after the OACK was acknowledged.
        let mut t = Transfer::resume(p(100, 8, 1), 0);
        assert_eq!(t.on_ack(0), Action::SendBlocks { first: 1, last: 1 });
        // An ACK beyond the file is not taken.
        let mut t = Transfer::resume(p(100, 8, 1), 0);
        assert_eq!(t.on_ack(500), Action::Wait);
    }

    proptest! {
        /// Whatever the ACKs and timeouts, sent blocks stay inside the file and the
        /// acknowledged block never goes back.
        #[test]
        fn arbitrary_events_stay_in_bounds(
            size in 0u64..100_000,
            blksize in 1u16..2000,
            windowsize in 1u16..20,
            events in proptest::collection::vec(proptest::option::of(any::<u16>()), 0..200),
        ) {
            let (mut t, _) = Transfer::start(p(size, blksize, windowsize), true);
            let mut acked = 0;
            for e in events {
                let a = match e { Some(w) => t.on_ack(w), None => t.on_timeout() };
                if let Action::SendBlocks { first, last } = a {
                    prop_assert!(first >= 1 && first <= last && last <= t.last_block());
                    prop_assert!(last - first < u64::from(windowsize));
                }
                prop_assert!(t.acked() >= acked);
                acked = t.acked();
            }
        }
    }
}
