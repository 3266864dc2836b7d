//! Metric snapshot rendering, scrape server and textfile writer.
#![forbid(unsafe_code)]
