//! [`TftpSettings`]: the `[tftp]` table — which replicated image holds the network
//! boot loaders (`pxelinux.0`, `ldlinux.c32`, `*.efi`, iPXE binaries) served at the
//! root of the TFTP and HTTP boot namespace.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::wire::WireTftp;
use crate::source::Source;
use crate::ConfigError;

/// The default name of the loader image.
pub const DEFAULT_LOADER_IMAGE: &str = "bootloaders";

/// Boot-file service settings shared by TFTP and HTTP boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TftpSettings {
    /// Name of the replicated image whose files are the boot loaders
    /// (default `"bootloaders"`).
    pub loader_image: String,
}

impl Default for TftpSettings {
    fn default() -> Self {
        TftpSettings {
            loader_image: DEFAULT_LOADER_IMAGE.to_string(),
        }
    }
}

impl TftpSettings {
    /// Applies defaults to `[tftp]` and checks the loader image name.
    pub(crate) fn from_wire(
        src: &Source<'_>,
        wire: Option<&Spanned<WireTftp>>,
    ) -> Result<Self, ConfigError> {
        let Some(w) = wire.map(Spanned::get_ref) else {
            return Ok(TftpSettings::default());
        };
        let Some(name) = &w.loader_image else {
            return Ok(TftpSettings::default());
        };
        let text = name.get_ref().trim();
        if text.is_empty() || text.contains('/') || text.contains('\0') {
            return Err(src.error(
                Some(name.span()),
                "tftp.loader_image",
                format!(
                    "loader_image {:?} must be a non-empty image name without '/'",
                    name.get_ref()
                ),
            ));
        }
        Ok(TftpSettings {
            loader_image: text.to_string(),
        })
    }
}
