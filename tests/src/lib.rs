//! End-to-end tests of the copilot-lite binary against an in-process S3 server.
