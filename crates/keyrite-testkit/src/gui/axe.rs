//! The accessibility check: axe-core, vendored at build time from ui/node_modules
//! (`crates/keyrite-testkit/build.rs`), injected through WebDriver; serious and critical violations fail.

use super::Session;

/// axe-core's source, vendored at build time from ui/node_modules (see `tests/build.rs`).
const AXE: &str = include_str!(concat!(env!("OUT_DIR"), "/axe.min.js"));

/// Runs axe-core on the page and gives back its serious and critical violations, one line
/// per element (rule, impact, help, element, what is wrong).
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] }).then((r) => {
  const bad = [];
  for (const v of r.violations) {
    if (v.impact !== "serious" && v.impact !== "critical") continue;
    for (const n of v.nodes) bad.push(`${v.id} (${v.impact}): ${v.help} — ${n.target.join(" ")}: ${(n.failureSummary || "").replace(/\s+/g, " ")}`);
  }
  done(bad);
}, (e) => done([`axe-core failed: ${e}`]));
"#;

impl Session {
    /// The accessibility check: axe-core, injected through WebDriver, on the page as it is
    /// now; panics listing every serious or critical violation.
    pub async fn check_accessibility(&self, screen: &str) {
        let lines = self.accessibility_violations().await;
        assert!(
            lines.is_empty(),
            "accessibility check on screen {screen}: {} serious or critical violation(s):\n{}",
            lines.len(),
            lines.join("\n")
        );
    }

    /// axe-core's serious and critical violations on the page as it is now, one line each.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        assert!(
            !AXE.is_empty(),
            "axe-core is not installed: run `npm ci` in ui/ (it is a devDependency), then build again"
        );
        let loaded = self
            .client
            .execute("return typeof window.axe === 'object';", vec![])
            .await
            .expect("look for axe-core");
        if loaded != serde_json::json!(true) {
            // Run as WebDriver script (the app's CSP allows no inline script): axe-core's UMD
            // wrapper sets window.axe.
            self.client
                .execute(&format!("{AXE}\n;return true;"), vec![])
                .await
                .expect("inject axe-core");
        }
        let found = self
            .client
            .execute_async(AXE_RUN, vec![])
            .await
            .expect("run axe-core");
        serde_json::from_value(found).expect("axe-core's answer")
    }

    /// Checks the screen as it is now once per session and screen: the route and, on the
    /// ceremony screen, the prompt kind (and any open dialog).
    pub async fn check_screen(&self) {
        let key = self
            .client
            .execute(
                "const m = document.getElementById('screen'); const v = document.getElementById('ceremony-view'); \
                 const d = document.querySelector('.modal'); \
                 return [m ? m.dataset.route : '', v ? v.dataset.kind : '', d ? d.id : ''].join('/');",
                vec![],
            )
            .await
            .expect("which screen")
            .as_str()
            .unwrap_or_default()
            .to_string();
        let new = self
            .checked
            .lock()
            .map(|mut c| c.insert(key.clone()))
            .unwrap_or(true);
        if new {
            self.check_accessibility(&key).await;
        }
    }
}
