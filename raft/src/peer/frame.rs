//! Length-prefixed frames: a 4-byte big-endian length, then a codec-encoded message. The
//! length is checked against a limit before anything is allocated.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::PeerError;
use crate::codec;

/// Limit before authentication.
pub const MAX_HANDSHAKE_FRAME: u32 = 4096;
/// Limit after authentication (snapshot chunks and append batches fit well below).
pub const MAX_FRAME: u32 = 64 * 1024 * 1024;

/// Write one message.
pub async fn write_msg<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), PeerError> {
    let body = codec::encode(msg)?;
    let len = u32::try_from(body.len()).map_err(|_| PeerError::FrameTooLarge(u32::MAX))?;
    if len > MAX_FRAME {
        return Err(PeerError::FrameTooLarge(len));
    }
    let mut buf = Vec::with_capacity(body.len() + 4);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

/// Read one message of at most `limit` bytes.
pub async fn read_msg<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    limit: u32,
) -> Result<T, PeerError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len);
    if len > limit {
        return Err(PeerError::FrameTooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    Ok(codec::decode(&body)?)
}
