//! The HTTP boot handler: method check, percent-decoding, resolution, conditional and
//! range requests, and the verified streaming body.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::runtime::Handle;

use crate::bootcfg::{ResolveError, Target, Transport};
use crate::bootfiles::{BootFiles, ServeStats, READ_STEP};
use crate::cas::{CasError, Digest};

use super::range::{parse_range, ByteRange, RangeError};
use super::HttpBoot;

/// Serve one request of the boot namespace.
pub(crate) async fn serve_path(
    State(st): State<Arc<HttpBoot>>,
    connect: Option<ConnectInfo<SocketAddr>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    ServeStats::bump(&st.stats.requests);
    if method != Method::GET && method != Method::HEAD {
        ServeStats::bump(&st.stats.write_refused);
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "read-only boot server\n",
        )
            .into_response();
    }
    let Some(raw) = percent_decode(uri.path()) else {
        ServeStats::bump(&st.stats.traversal_refused);
        return (StatusCode::BAD_REQUEST, "malformed path encoding\n").into_response();
    };
    let client = connect.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let res = match st.files.resolve_async(raw, Transport::Http, client).await {
        Ok(r) => r,
        Err(e) => {
            st.stats.count_resolve_error(&e);
            return resolve_error(&e);
        }
    };
    let head = method == Method::HEAD;
    match res.target {
        Target::Generated(text) => {
            let digest = Digest::of(text.as_bytes());
            let body = Source::Memory(Bytes::from(text));
            respond(&st, &headers, digest, body, head, true).await
        }
        Target::Blob { digest, size } => {
            respond(&st, &headers, digest, Source::Blob(size), head, false).await
        }
    }
}

enum Source {
    Memory(Bytes),
    Blob(u64),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::Memory(b) => b.len() as u64,
            Source::Blob(n) => *n,
        }
    }
}

async fn respond(
    st: &HttpBoot,
    headers: &HeaderMap,
    digest: Digest,
    src: Source,
    head: bool,
    generated: bool,
) -> Response {
    let etag = format!("\"{digest}\"");
    let size = src.len();
    let mut b = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(
            header::CONTENT_TYPE,
            if generated {
                "text/plain; charset=utf-8"
            } else {
                "application/octet-stream"
            },
        );
    if generated {
        b = b.header(header::CACHE_CONTROL, "no-store");
    }
    if matches_etag(headers.get(header::IF_NONE_MATCH), &etag) {
        return finish(b.status(StatusCode::NOT_MODIFIED), Body::empty());
    }
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v.trim() == etag));
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(h) if if_range_ok => match parse_range(h, size) {
            Ok(r) => Some(r),
            Err(RangeError::Ignored) => None,
            Err(RangeError::Unsatisfiable) => {
                return finish(
                    b.status(StatusCode::RANGE_NOT_SATISFIABLE)
                        .header(header::CONTENT_RANGE, format!("bytes */{size}")),
                    Body::empty(),
                );
            }
        },
        _ => None,
    };
    if let Some(r) = range {
        b = b.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", r.first, r.last),
        );
    }
    let (first, len) = range.map_or((0, size), |r| (r.first, r.len()));
    b = b.header(header::CONTENT_LENGTH, len);
    if head || len == 0 {
        ServeStats::bump(&st.stats.completed);
        return finish(b, Body::empty());
    }
    let body = match src {
        Source::Memory(bytes) => {
            let (f, l) = (first as usize, len as usize);
            st.stats.bytes.fetch_add(len, Ordering::Relaxed);
            ServeStats::bump(&st.stats.completed);
            Body::from(bytes.slice(f..f + l))
        }
        Source::Blob(_) => {
            let r = ByteRange {
                first,
                last: first + len - 1,
            };
            match blob_body(st, digest, r).await {
                Ok(body) => body,
                Err(e) => return blob_error(st, &e),
            }
        }
    };
    finish(b, body)
}

/// Stream `r` of the blob. The first step is read before the response starts, so a
/// corrupt or missing blob is a clean 500/503; later failures cut the connection.
async fn blob_body(st: &HttpBoot, digest: Digest, r: ByteRange) -> Result<Body, CasError> {
    let files = Arc::clone(&st.files);
    let stats = Arc::clone(&st.stats);
    let rt = Handle::current();
    let end = r.last + 1;
    let step = move |pos: u64| usize::try_from(end - pos).map_or(READ_STEP, |n| n.min(READ_STEP));
    let first = read(&files, &rt, digest, r.first, step(r.first)).await?;
    let pos = r.first + first.len() as u64;
    stats.bytes.fetch_add(first.len() as u64, Ordering::Relaxed);
    let head = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) });
    let rest = futures::stream::unfold(Some(pos), move |state| {
        let (files, stats, rt) = (Arc::clone(&files), Arc::clone(&stats), rt.clone());
        async move {
            let pos = state?;
            if pos >= end {
                ServeStats::bump(&stats.completed);
                return None;
            }
            match read(&files, &rt, digest, pos, step(pos)).await {
                Ok(b) if !b.is_empty() => {
                    stats.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                    let next = pos + b.len() as u64;
                    Some((Ok(Bytes::from(b)), Some(next)))
                }
                Ok(_) => {
                    ServeStats::bump(&stats.other_errors);
                    let e = std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "blob shorter than its manifest entry",
                    );
                    Some((Err(e), None))
                }
                Err(e) => {
                    ServeStats::bump(if e.is_corruption() {
                        &stats.corrupt
                    } else {
                        &stats.other_errors
                    });
                    Some((Err(std::io::Error::other(e)), None))
                }
            }
        }
    });
    Ok(Body::from_stream(futures::StreamExt::chain(head, rest)))
}

async fn read(
    files: &Arc<BootFiles>,
    rt: &Handle,
    digest: Digest,
    pos: u64,
    len: usize,
) -> Result<Vec<u8>, CasError> {
    match files.read_blob_task(rt, digest, pos, len).await {
        Ok(r) => r,
        Err(e) => Err(CasError::io("read blob", "", std::io::Error::other(e))),
    }
}

fn finish(b: axum::http::response::Builder, body: Body) -> Response {
    b.body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn blob_error(st: &HttpBoot, e: &CasError) -> Response {
    match e {
        CasError::Corrupt { .. } => {
            ServeStats::bump(&st.stats.corrupt);
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
        }
        CasError::NotFound(_) => {
            ServeStats::bump(&st.stats.unavailable);
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
        _ => {
            ServeStats::bump(&st.stats.other_errors);
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
        }
    }
}

fn resolve_error(e: &ResolveError) -> Response {
    let status = match e {
        ResolveError::BadPath(_) => StatusCode::BAD_REQUEST,
        ResolveError::NotFound(_) => StatusCode::NOT_FOUND,
        ResolveError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut r = (status, format!("{e}\n")).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    r
}

fn matches_etag(v: Option<&HeaderValue>, etag: &str) -> bool {
    v.and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// Decode `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
