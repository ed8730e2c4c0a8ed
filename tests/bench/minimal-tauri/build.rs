//! Tauri's build step (config, context), nothing else.
fn main() {
    tauri_build::build();
}
