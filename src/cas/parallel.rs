//! [`run_parallel`]: a small scoped worker pool (no rayon). `available_parallelism`
//! workers pull job indices from a shared counter; results and byte-progress come back
//! over a channel to the calling thread, which is the only one that calls the progress
//! callback. The first error stops the workers from taking new jobs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;

use super::error::CasError;

enum Msg<R> {
    Bytes(u64),
    Done(usize, Result<R, CasError>),
}

/// Run `work` on every job; `on_bytes` sees byte progress and `on_done` each finished job,
/// both on the calling thread. Returns results in job order, or the first error.
pub fn run_parallel<J, R, W>(
    jobs: &[J],
    work: W,
    mut on_bytes: impl FnMut(u64),
    mut on_done: impl FnMut(),
) -> Result<Vec<R>, CasError>
where
    J: Sync,
    R: Send,
    W: Fn(&J, &mut dyn FnMut(u64)) -> Result<R, CasError> + Sync,
{
    let workers = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut results: Vec<Option<R>> = (0..jobs.len()).map(|_| None).collect();
    let mut first_err = None;
    thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Msg<R>>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop, work) = (&next, &stop, &work);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let mut report = |n: u64| {
                        let _ = tx.send(Msg::Bytes(n));
                    };
                    let r = work(job, &mut report);
                    let failed = r.is_err();
                    let _ = tx.send(Msg::Done(i, r));
                    if failed {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
        drop(tx);
        for msg in rx {
            match msg {
                Msg::Bytes(n) => on_bytes(n),
                Msg::Done(i, Ok(r)) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(r);
                    }
                    on_done();
                }
                Msg::Done(_, Err(e)) => {
                    stop.store(true, Ordering::Relaxed);
                    first_err.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = first_err {
        return Err(e);
    }
    results
        .into_iter()
        .collect::<Option<Vec<R>>>()
        .ok_or_else(|| CasError::import("", "a hashing worker stopped early"))
}
