//! Unit and property tests of the NFS server's codecs, handles and procedures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod codec_tests;
mod fixture;
mod handle_tests;
mod proc_tests;
