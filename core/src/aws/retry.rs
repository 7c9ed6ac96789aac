//! The one retry loop every AWS sink uses: attempt, classify, wait the shared backoff (or the
//! service's `Retry-After`, whichever is longer), until success, a permanent error, the
//! attempt bound, or cancellation (the shutdown deadline). Each attempt is raced against the
//! cancellation, so a hung endpoint can never hold the process past its deadline.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use super::errors::{CallError, ErrorClass};
use crate::backoff::Backoff;

/// What the operation is told about the attempt it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// The previous attempt failed because the resource is gone: recreate it first.
    pub recreate: bool,
}

/// Why [`retry_until`] stopped without a result.
#[derive(Debug, Clone)]
pub enum GiveUp {
    /// The service refused the request for good.
    Permanent(CallError),
    /// The attempt bound was reached; the last error.
    Exhausted(CallError),
    /// Cancelled (the shutdown deadline) before a success; the last error, if any attempt
    /// had finished.
    Cancelled(Option<CallError>),
}

impl GiveUp {
    /// One line for the operator.
    pub fn message(&self) -> String {
        match self {
            Self::Permanent(err) => err.message.clone(),
            Self::Exhausted(err) => format!("{} (gave up after the last attempt)", err.message),
            Self::Cancelled(Some(err)) => {
                format!(
                    "the shutdown deadline passed while retrying; last error: {}",
                    err.message
                )
            }
            Self::Cancelled(None) => "the shutdown deadline passed before the call finished".into(),
        }
    }
}

/// Runs `op` until it succeeds, fails permanently, has made `max_attempts` attempts (`None`:
/// no bound but `cancel`), or `cancel` fires. `on_retry` hears every error that will be
/// retried, with the attempt number, so the caller logs and counts it in one place.
pub async fn retry_until<T, Op, Fut>(
    cancel: &CancellationToken,
    max_attempts: Option<u32>,
    mut backoff: Backoff,
    mut op: Op,
    mut on_retry: impl FnMut(&CallError, u32),
) -> Result<T, GiveUp>
where
    Op: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut attempt = Attempt {
        number: 1,
        recreate: false,
    };
    loop {
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(GiveUp::Cancelled(None)),
            result = op(attempt) => result,
        };
        let err = match result {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        // `AlreadyApplied` is a success only the caller can count (it maps it before here);
        // reaching the loop, it is not worth repeating either.
        if matches!(
            err.class,
            ErrorClass::Permanent | ErrorClass::AlreadyApplied
        ) {
            return Err(GiveUp::Permanent(err));
        }
        if max_attempts.is_some_and(|max| attempt.number >= max) {
            return Err(GiveUp::Exhausted(err));
        }
        on_retry(&err, attempt.number);
        let wait = match err.retry_after {
            Some(hint) => hint.max(backoff.next_delay()),
            None => backoff.next_delay(),
        };
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(GiveUp::Cancelled(Some(err))),
            () = tokio::time::sleep(wait) => {}
        }
        attempt = Attempt {
            number: attempt.number.saturating_add(1),
            recreate: err.class == ErrorClass::Recreate,
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;

    fn error(class: ErrorClass) -> CallError {
        CallError {
            class,
            message: "boom".into(),
            retry_after: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success_and_flags_recreate() {
        let calls = AtomicU32::new(0);
        let mut seen = Vec::new();
        let result = retry_until(
            &CancellationToken::new(),
            None,
            Backoff::default(),
            |attempt| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                seen.push(attempt);
                async move {
                    match n {
                        0 => Err(error(ErrorClass::Recreate)),
                        1 => Err(error(ErrorClass::Retry)),
                        _ => Ok(n),
                    }
                }
            },
            |_, _| {},
        )
        .await;
        assert_eq!(result.ok(), Some(2));
        assert_eq!(
            seen.iter()
                .map(|a| (a.number, a.recreate))
                .collect::<Vec<_>>(),
            vec![(1, false), (2, true), (3, false)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_and_exhausted_stop_the_loop() {
        let permanent = retry_until(
            &CancellationToken::new(),
            None,
            Backoff::default(),
            |_| async { Err::<(), _>(error(ErrorClass::Permanent)) },
            |_, _| {},
        )
        .await;
        assert!(matches!(permanent, Err(GiveUp::Permanent(_))));
        let mut retried = 0;
        let exhausted = retry_until(
            &CancellationToken::new(),
            Some(3),
            Backoff::default(),
            |_| async { Err::<(), _>(error(ErrorClass::Retry)) },
            |_, _| retried += 1,
        )
        .await;
        assert!(matches!(exhausted, Err(GiveUp::Exhausted(_))));
        assert_eq!(retried, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_attempt_ends_when_cancelled() {
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            trigger.cancel();
        });
        let started = tokio::time::Instant::now();
        let result = retry_until(
            &cancel,
            None,
            Backoff::default(),
            |_| std::future::pending::<Result<(), CallError>>(),
            |_, _| {},
        )
        .await;
        assert!(matches!(result, Err(GiveUp::Cancelled(None))));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_hint_lengthens_the_wait() {
        let started = tokio::time::Instant::now();
        let calls = AtomicU32::new(0);
        let result = retry_until(
            &CancellationToken::new(),
            None,
            Backoff::new(Duration::from_millis(1), Duration::from_millis(1)),
            |_| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Err(CallError {
                            retry_after: Some(Duration::from_secs(9)),
                            ..error(ErrorClass::Retry)
                        })
                    } else {
                        Ok(())
                    }
                }
            },
            |_, _| {},
        )
        .await;
        assert!(result.is_ok());
        assert!(started.elapsed() >= Duration::from_secs(9));
    }
}
