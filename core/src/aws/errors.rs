//! Whether a failed AWS call is worth repeating: one classification per service, five
//! classes (retry / hold / recreate / already applied / permanent), and a one-line
//! description that never carries the request's payload (which may hold log lines).

use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What to do after a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, a 5xx, a timeout or a network error: wait and send again.
    Retry,
    /// Refused for the caller's credentials or permissions (an expired token, an IAM
    /// mistake), or the request could not be signed: an operator will fix it, so keep the
    /// data, back off, send again, and say so loudly.
    Hold,
    /// The resource is gone (a log group or stream deleted under us): create it, then send
    /// again.
    Recreate,
    /// The service already has what was sent (CloudWatch Logs' `DataAlreadyAcceptedException`:
    /// an earlier attempt landed and its answer was lost): count it as delivered.
    AlreadyApplied,
    /// Anything else: the same request would fail again; report it and give up on it.
    Permanent,
}

/// The services the sidecar calls, each with its own error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// CloudWatch Logs.
    Logs,
    /// CloudWatch (metrics, dashboards, alarms).
    CloudWatch,
    /// SNS.
    Sns,
}

/// Error codes AWS services use for throttling and transient server trouble (the SDKs'
/// standard retry classifier lists the same codes).
const TRANSIENT_CODES: [&str; 10] = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServiceError",
    "RequestTimeout",
];

/// Error codes AWS services use for expired or invalid credentials and for missing
/// permissions (the IAM and STS error references; `RequestExpired` and `SignatureDoesNotMatch`
/// are a skewed clock, which an operator fixes too).
const AUTH_CODES: [&str; 12] = [
    "ExpiredToken",
    "ExpiredTokenException",
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "RequestExpired",
    "NotAuthorized",
];

/// Why a call failed, already classified, without payloads.
#[derive(Debug, Clone)]
pub struct CallError {
    /// What to do about it.
    pub class: ErrorClass,
    /// One line for the operator: what failed and what AWS said.
    pub message: String,
    /// How long the service asked us to wait (`Retry-After`), if it did.
    pub retry_after: Option<Duration>,
}

impl CallError {
    /// A classified error from an SDK error, the message prefixed with what was attempted.
    pub fn from_sdk<E: ProvideErrorMetadata + std::error::Error + 'static>(
        service: Service,
        what: &str,
        err: &SdkError<E, HttpResponse>,
    ) -> Self {
        Self {
            class: classify(service, err),
            message: format!("{what}: {}", describe(err)),
            retry_after: retry_after(err),
        }
    }

    /// The same error, to be retried whatever its class (for calls that must eventually
    /// succeed before anything else can happen, such as creating the log stream).
    pub fn retry_anyway(mut self) -> Self {
        self.class = ErrorClass::Retry;
        self
    }
}

/// Classifies an SDK error of `service`.
pub fn classify<E: ProvideErrorMetadata>(
    service: Service,
    err: &SdkError<E, HttpResponse>,
) -> ErrorClass {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Retry
        }
        // The SDK could not build or sign the request: with requests the sidecar builds
        // itself, that is credentials it cannot load (task-role credentials mid-rotation,
        // an unreachable credentials endpoint), which comes back.
        SdkError::ConstructionFailure(_) => ErrorClass::Hold,
        SdkError::ServiceError(failure) => {
            let code = failure.err().code().unwrap_or_default();
            let status = failure.raw().status().as_u16();
            if service == Service::Logs && code == "ResourceNotFoundException" {
                ErrorClass::Recreate
            } else if service == Service::Logs && code == "DataAlreadyAcceptedException" {
                ErrorClass::AlreadyApplied
            } else if AUTH_CODES.contains(&code) || status == 403 {
                ErrorClass::Hold
            } else if TRANSIENT_CODES.contains(&code) || status >= 500 || status == 429 {
                ErrorClass::Retry
            } else {
                ErrorClass::Permanent
            }
        }
        _ => ErrorClass::Permanent,
    }
}

/// The longest cause text [`describe`] keeps: enough for "no providers in chain provided
/// credentials" or a DNS failure, never a response body.
const MAX_CAUSE_CHARS: usize = 200;

/// A one-line description of an error, without request payloads or Debug dumps: the service's
/// code and message, or for a failure before any answer what kind it was and its innermost
/// cause's own words (the credentials chain, the connector), which say what to fix.
pub fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> String {
    let kind = match err {
        SdkError::ServiceError(failure) => {
            return format!(
                "{}: {}",
                failure.err().code().unwrap_or("unknown error"),
                failure.err().message().unwrap_or("no message")
            )
        }
        SdkError::TimeoutError(_) => "request timed out",
        SdkError::DispatchFailure(_) => "the request could not be sent",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ConstructionFailure(_) => "the request could not be built",
        _ => "unknown error",
    };
    match innermost_cause(err) {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_owned(),
    }
}

/// The Display text of the deepest source of `err` (the root cause), shortened.
fn innermost_cause(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = err.source()?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text: String = cause.to_string().chars().take(MAX_CAUSE_CHARS).collect();
    let mut text = text.lines().next().unwrap_or_default().trim();
    // "no credentials found in chain. Attempted:" introduces a list on the next lines: keep
    // the sentence, not the dangling introduction.
    if text.ends_with(':') {
        if let Some(end) = text.rfind(". ") {
            text = &text[..end];
        }
    }
    (!text.is_empty()).then(|| text.to_owned())
}

/// The service's `Retry-After` hint in seconds, if its response carried one.
fn retry_after<E>(err: &SdkError<E, HttpResponse>) -> Option<Duration> {
    let SdkError::ServiceError(failure) = err else {
        return None;
    };
    let value = failure.raw().headers().get("retry-after")?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ServiceError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(
        status: u16,
        code: &str,
        retry_after: Option<&str>,
    ) -> SdkError<ErrorMetadata, HttpResponse> {
        let mut raw = HttpResponse::new(
            StatusCode::try_from(status).expect("valid status"),
            SdkBody::empty(),
        );
        if let Some(value) = retry_after {
            raw.headers_mut().insert("retry-after", value.to_owned());
        }
        let err = ErrorMetadata::builder().code(code).message("m").build();
        SdkError::ServiceError(ServiceError::builder().source(err).raw(raw).build())
    }

    #[test]
    fn classes_per_service() {
        let missing = service_error(400, "ResourceNotFoundException", None);
        assert_eq!(classify(Service::Logs, &missing), ErrorClass::Recreate);
        assert_eq!(
            classify(Service::CloudWatch, &missing),
            ErrorClass::Permanent
        );
        let throttled = service_error(400, "ThrottlingException", None);
        assert_eq!(classify(Service::CloudWatch, &throttled), ErrorClass::Retry);
        let server = service_error(503, "Whatever", None);
        assert_eq!(classify(Service::Sns, &server), ErrorClass::Retry);
        let invalid = service_error(400, "InvalidParameterException", None);
        assert_eq!(classify(Service::Logs, &invalid), ErrorClass::Permanent);
    }

    #[test]
    fn credentials_and_permissions_hold_and_accepted_data_is_applied() {
        for (status, code) in [
            (400, "ExpiredTokenException"),
            (403, "ExpiredToken"),
            (400, "AccessDeniedException"),
            (403, "AccessDenied"),
            (400, "UnrecognizedClientException"),
            (403, "SomethingNew"),
        ] {
            let err = service_error(status, code, None);
            assert_eq!(classify(Service::Logs, &err), ErrorClass::Hold, "{code}");
            assert_eq!(
                classify(Service::CloudWatch, &err),
                ErrorClass::Hold,
                "{code}"
            );
        }
        let accepted = service_error(400, "DataAlreadyAcceptedException", None);
        assert_eq!(
            classify(Service::Logs, &accepted),
            ErrorClass::AlreadyApplied
        );
        assert_eq!(classify(Service::Sns, &accepted), ErrorClass::Permanent);
    }

    #[test]
    fn retry_after_is_read_and_messages_name_the_code() {
        let err = service_error(429, "TooManyRequestsException", Some("7"));
        let call = CallError::from_sdk(Service::CloudWatch, "PutMetricData failed", &err);
        assert_eq!(call.class, ErrorClass::Retry);
        assert_eq!(call.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(
            call.message,
            "PutMetricData failed: TooManyRequestsException: m"
        );
    }
}
