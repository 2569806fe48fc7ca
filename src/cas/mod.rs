//! The content-addressed image store.
//!
//! Images are stored as a [`Manifest`] (a sorted list of [`ManifestEntry`]s whose BLAKE3
//! digest is the image id) plus content blobs in a [`BlobStore`], each named by its
//! [`Digest`]; identical files across images are stored once. Blobs are written
//! atomically and verified whenever they arrive ([`BlobStore::put_verified`]) and on every
//! read ([`BlobStore::read_at`] checks each 64 KiB chunk it touches), so corrupted bytes
//! are never served. Trees come in through [`import_dir`] / [`hash_dir`] +
//! [`store_files`] or [`import_tar`].
//!
//! Modules: `digest` (the name type), `blob_store` (layout, atomic writes, dedup,
//! quarantine), `blob_read` (verified reads, verify, scrub), `chunk_table` (per-chunk
//! verification data), `chunk_cache` (verified chunks in memory for serving), `reader`
//! (verifying `Read`), `temp_file` (temp-then-rename),
//! `entry` / `manifest` / `validate` (the image format), `walk` / `parallel` / `import`
//! (directory import), `tar_import` (tar import), `error`.

mod blob_read;
mod blob_store;
mod chunk_cache;
mod chunk_table;
mod digest;
mod entry;
mod error;
mod import;
mod manifest;
mod parallel;
mod reader;
mod tar_import;
mod temp_file;
mod validate;
mod walk;

#[cfg(test)]
mod tests;

pub use blob_read::ScrubReport;
pub use blob_store::BlobStore;
pub use chunk_cache::{ChunkCache, FileStamp, SERVE_CACHE_BYTES};
pub use chunk_table::{ChunkTable, CHUNK_SIZE};
pub use digest::{Digest, ParseDigestError};
pub use entry::{EntryKind, ManifestEntry};
pub use error::CasError;
pub use import::{hash_dir, import_dir, store_files, ImportProgress};
pub use manifest::Manifest;
pub use reader::BlobReader;
pub use tar_import::import_tar;
pub use walk::{dev_major, dev_minor};
