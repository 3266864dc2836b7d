//! Engine stub.
