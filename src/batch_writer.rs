//! [`BatchWriter`]: group commit in front of the [`Writer`]. Callers submit single
//! commands concurrently; a background task packs every command queued meanwhile into one
//! [`Command::Batch`] log entry (so one Raft round trip and one fsync per node cover them
//! all) and hands each caller its own command's answer. At most [`BATCHES_IN_FLIGHT`]
//! batches are being committed at once; while they are, new commands queue up and form the
//! next batch, so batches grow with the load and a lone command is committed at once.
//!
//! The answer a caller gets is exactly what applying its command alone at that point of
//! the log would have given (the state machine applies a batch's commands in order), so
//! "acknowledged only after commit and apply" holds per command.

use std::sync::{Arc, OnceLock};

use raftboot_raft::{Command, Response};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::writer::{WriteError, Writer};

/// Batches committed concurrently (the next one forms while these are in flight).
pub const BATCHES_IN_FLIGHT: usize = 2;
/// Most commands in one log entry.
pub const MAX_BATCH: usize = 512;

type Waiter = oneshot::Sender<Result<Response, WriteError>>;

/// Submits commands to the leader in batches.
pub struct BatchWriter {
    writer: Arc<Writer>,
    queue: OnceLock<mpsc::UnboundedSender<(Command, Waiter)>>,
}

impl BatchWriter {
    pub fn new(writer: Arc<Writer>) -> Self {
        BatchWriter {
            writer,
            queue: OnceLock::new(),
        }
    }

    /// Commit `cmd` (in a batch with whatever else is queued); resolves with its own answer
    /// once the batch is committed and applied. Must be called inside a tokio runtime (the
    /// first call starts the batching task, which ends when this writer is dropped).
    pub async fn submit(&self, cmd: Command) -> Result<Response, WriteError> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run(self.writer.clone(), rx));
            tx
        });
        let (tx, rx) = oneshot::channel();
        queue
            .send((cmd, tx))
            .map_err(|_| WriteError::Failed("batch writer stopped".into()))?;
        rx.await
            .map_err(|_| WriteError::Failed("batch writer stopped".into()))?
    }
}

async fn run(writer: Arc<Writer>, mut rx: mpsc::UnboundedReceiver<(Command, Waiter)>) {
    let permits = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let writer = writer.clone();
        tokio::spawn(async move {
            let _permit = permit;
            commit(&writer, batch).await;
        });
    }
}

async fn commit(writer: &Writer, mut batch: Vec<(Command, Waiter)>) {
    if batch.len() == 1 {
        if let Some((cmd, tx)) = batch.pop() {
            let _ = tx.send(writer.submit(cmd).await);
        }
        return;
    }
    let (cmds, waiters): (Vec<Command>, Vec<Waiter>) = batch.into_iter().unzip();
    let n = cmds.len();
    match writer.submit(Command::Batch(cmds)).await {
        Ok(Response::Batch(answers)) if answers.len() == n => {
            for (tx, answer) in waiters.into_iter().zip(answers) {
                let _ = tx.send(Ok(answer));
            }
        }
        Ok(other) => {
            let m = format!("unexpected answer to a batch of {n}: {other:?}");
            tracing::error!("{m}");
            for tx in waiters {
                let _ = tx.send(Err(WriteError::Failed(m.clone())));
            }
        }
        Err(e) => {
            let m = e.to_string();
            for tx in waiters {
                let _ = tx.send(Err(match &e {
                    WriteError::NoLeader => WriteError::NoLeader,
                    WriteError::Unreachable(_) => WriteError::Unreachable(m.clone()),
                    WriteError::Failed(_) => WriteError::Failed(m.clone()),
                }));
            }
        }
    }
}
