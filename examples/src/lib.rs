//! Code shared by guv's example programs and their tests.
//!
//! The programs themselves are the binaries of this crate (see the README);
//! what a test needs to call lives here.
//!
//! ```
//! use guv_examples::crawl::{Site, agent, fetch, page_app};
//!
//! let site = Site::start(page_app(0, std::time::Duration::ZERO)).unwrap();
//! let page = fetch(&agent(), &site.url("/page/3")).unwrap();
//! assert_eq!(page.body, "site 0, page 3");
//! site.stop().unwrap();
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![deny(unsafe_code)]

pub mod crawl;
