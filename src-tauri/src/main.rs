//! `keyrite-desktop`: the Tauri window; every rule is in keyrite-core.
// No console window on other platforms' release builds; Keyrite ships for Linux, where this is inert.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    keyrite_desktop::run();
}
