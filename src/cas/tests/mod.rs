//! Tests of the content-addressed store (fixtures, blob store, manifest, import).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod blob_tests;
mod fixture;
mod import_tests;
mod manifest_tests;
mod tar_tests;
