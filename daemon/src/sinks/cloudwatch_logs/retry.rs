//! Whether a CloudWatch Logs error is worth retrying (the wait itself is `crate::backoff`).

use aws_sdk_cloudwatchlogs::config::http::HttpResponse;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};

/// What to do after a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, a 5xx, a timeout or a network error: wait and send again.
    Retry,
    /// The group or stream is gone (deleted under us): create it, then send again.
    Recreate,
    /// Anything else: the same request would fail again; report it and give up on it.
    Permanent,
}

/// Error codes CloudWatch Logs uses for throttling and transient server trouble.
const RETRIABLE_CODES: [&str; 6] = [
    "ThrottlingException",
    "Throttling",
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalFailure",
    "RequestTimeout",
];

/// Classifies an SDK error.
pub fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ErrorClass {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Retry
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if code == "ResourceNotFoundException" {
                ErrorClass::Recreate
            } else if RETRIABLE_CODES.contains(&code) || service.raw().status().as_u16() >= 500 {
                ErrorClass::Retry
            } else {
                ErrorClass::Permanent
            }
        }
        _ => ErrorClass::Permanent,
    }
}

/// A one-line description of an error, without request payloads (which may hold log lines).
pub fn describe<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> String {
    match err {
        SdkError::ServiceError(service) => format!(
            "{}: {}",
            service.err().code().unwrap_or("unknown error"),
            service.err().message().unwrap_or("no message")
        ),
        SdkError::TimeoutError(_) => "request timed out".to_owned(),
        SdkError::DispatchFailure(_) => "cannot reach the endpoint (network error)".to_owned(),
        SdkError::ResponseError(_) => "unreadable response".to_owned(),
        SdkError::ConstructionFailure(_) => "request could not be built".to_owned(),
        _ => "unknown error".to_owned(),
    }
}
