//! Driving the window by keyboard only, as WebDriver key actions: Tab and Shift+Tab to a
//! control, Enter and Space to use it, arrows in radio groups and selects, typed text. A
//! control that Tab cannot reach fails the test.

use super::Session;

impl Session {
    /// Presses and releases `keys` one after the other (WebDriver key actions: what a
    /// keyboard sends to the focused element).
    pub async fn keys(&self, keys: &[char]) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut a = KeyActions::new("keyboard".into());
        for &k in keys {
            a = a
                .then(KeyAction::Down { value: k })
                .then(KeyAction::Up { value: k });
        }
        self.client
            .perform_actions(a)
            .await
            .expect("perform key actions");
    }

    /// Presses `key` with `modifier` held (Shift+Tab, Ctrl+A).
    pub async fn chord(&self, modifier: fantoccini::key::Key, key: char) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let m: char = modifier.into();
        let a = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: m })
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key })
            .then(KeyAction::Up { value: m });
        self.client
            .perform_actions(a)
            .await
            .expect("perform key actions");
    }

    /// Presses one special key (Enter, Tab, Space, Escape, arrows…).
    pub async fn press(&self, key: fantoccini::key::Key) {
        self.keys(&[key.into()]).await;
    }

    /// Presses `key` when the press may end the app (its answer may never come).
    pub async fn press_unanswered(&self, key: fantoccini::key::Key) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let k: char = key.into();
        let a = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k });
        let _ = self.client.perform_actions(a).await;
    }

    /// Whether the focused element matches `css`.
    pub async fn focus_is(&self, css: &str) -> bool {
        self.client
            .execute(
                "const a = document.activeElement; return !!a && a.matches(arguments[0]);",
                vec![serde_json::json!(css)],
            )
            .await
            .expect("read the focus")
            == serde_json::json!(true)
    }

    /// The focused element, for messages: its id, else its tag and text.
    pub async fn focused(&self) -> String {
        self.client
            .execute(
                "const a = document.activeElement; return a ? (a.id || a.tagName + ' ' + (a.textContent || '').slice(0, 40)) : '';",
                vec![],
            )
            .await
            .expect("read the focus")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Moves the focus to the element `css` with Tab only, as a keyboard user would (waiting
    /// for it first); panics when Tab never reaches it (a keyboard trap or an unreachable
    /// control).
    pub async fn tab_to(&self, css: &str) {
        self.wait(css).await;
        for _ in 0..120 {
            if self.focus_is(css).await {
                return;
            }
            self.press(fantoccini::key::Key::Tab).await;
        }
        panic!(
            "Tab never reached {css} (the focus is on {})",
            self.focused().await
        );
    }

    /// Activates the control `css` by keyboard: Tab to it, then Space for a checkbox or a
    /// radio button, Enter for anything else.
    pub async fn activate(&self, css: &str) {
        use fantoccini::key::Key;
        self.tab_to(css).await;
        let toggle = self
            .focus_is("input[type=checkbox], input[type=radio]")
            .await;
        self.press(if toggle { Key::Space } else { Key::Enter })
            .await;
    }

    /// Checks the radio button `css` by keyboard: Tab into its group, then the arrow keys
    /// (Space when the focus is on it but it is not yet checked).
    pub async fn check_radio(&self, css: &str) {
        use fantoccini::key::Key;
        let e = self.wait(css).await;
        let name = e
            .attr("name")
            .await
            .expect("radio name")
            .unwrap_or_else(|| panic!("{css} has no name"));
        self.tab_to(&format!("input[type=radio][name='{name}']"))
            .await;
        for _ in 0..40 {
            let checked = self
                .client
                .execute(
                    "return document.querySelector(arguments[0]).checked;",
                    vec![serde_json::json!(css)],
                )
                .await
                .expect("read the radio")
                == serde_json::json!(true);
            if checked {
                return;
            }
            if self.focus_is(css).await {
                self.press(Key::Space).await;
            } else {
                self.press(Key::Down).await;
            }
        }
        panic!("the arrow keys never checked {css}");
    }

    /// Types `text` at the focus, one key at a time.
    pub async fn type_text(&self, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        // In chunks: one WebDriver call per 64 characters.
        for c in chars.chunks(64) {
            self.keys(c).await;
        }
    }

    /// Types `text` into the input `css`: Tab to it, select what it holds (Ctrl+A), delete it,
    /// type.
    pub async fn type_into(&self, css: &str, text: &str) {
        use fantoccini::key::Key;
        self.tab_to(css).await;
        self.chord(Key::Control, 'a').await;
        self.press(Key::Backspace).await;
        if !text.is_empty() {
            self.type_text(text).await;
        }
    }

    /// Chooses the option with value `value` in the select `css` by keyboard: Tab to it, then
    /// Home and Down until it is selected.
    pub async fn select(&self, css: &str, value: &str) {
        use fantoccini::key::Key;
        self.tab_to(css).await;
        self.press(Key::Home).await;
        for _ in 0..40 {
            if self.value(css).await == value {
                return;
            }
            self.press(Key::Down).await;
        }
        panic!("the select {css} never showed the option {value}");
    }
}
