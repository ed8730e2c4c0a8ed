//! The end-to-end tests of the desktop app in a real window, one test binary: each file of
//! this folder is a module; every test is `#[ignore]`d and run by CI's GUI step under Xvfb:
//! `xvfb-run cargo test -p keyrite-tests --test gui -- --ignored --test-threads=1` (one window
//! at a time: `keyrite_testkit::x11::request_close` closes every window of the app's title on
//! the display). A new file here needs its `mod` line below, in order (docs/testing.md).

mod gui_ceremony;
mod gui_faces;
mod gui_home;
mod gui_journal;
mod gui_key_lifecycle;
mod gui_quorum;
mod gui_records;
mod gui_replace_custodian;
mod gui_resume;
mod gui_room;
