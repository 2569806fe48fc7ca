//! Tests of the DHCP server: the request path end to end over an in-memory backend, and
//! property tests of the codecs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod codec_tests;
mod fixture;
mod handler_tests;
mod proxy_tests;
