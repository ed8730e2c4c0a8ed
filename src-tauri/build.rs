fn main() {
    // Declaring the commands makes Tauri's ACL generate allow-/deny- permissions for them; the
    // capability file then grants exactly these and nothing else.
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(&["app_status", "hsm_tokens"])),
    )
    .expect("tauri-build failed");
}
