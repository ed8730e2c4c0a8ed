//! Vendors axe-core (an npm devDependency of ui/) into the GUI fixtures at build time: its
//! minified source is copied into OUT_DIR, where `src/gui.rs` includes it, so the
//! accessibility check runs offline in the WebDriver session. Without `npm ci` in ui/, an
//! empty file is written and the GUI tests say what to run.

use std::path::Path;

fn main() {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/node_modules/axe-core/axe.min.js");
    println!("cargo::rerun-if-changed={}", src.display());
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("axe.min.js");
    let text = std::fs::read_to_string(&src).unwrap_or_default();
    std::fs::write(&out, text).expect("write axe.min.js into OUT_DIR");
}
