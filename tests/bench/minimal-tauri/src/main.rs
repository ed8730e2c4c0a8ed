//! The smallest Tauri 2 app: one window showing `dist/index.html`.
fn main() {
    if let Err(e) = tauri::Builder::default().run(tauri::generate_context!()) {
        eprintln!("minimal-tauri: {e}");
        std::process::exit(1);
    }
}
