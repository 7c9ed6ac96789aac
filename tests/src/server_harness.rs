//! Helpers for the streaming server end-to-end tests.
