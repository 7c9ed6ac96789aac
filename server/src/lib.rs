//! The AI streaming server.
