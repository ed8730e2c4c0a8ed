//! The Records screen (Alt+4): verifying a record in the window, by keyboard.

use super::Session;

impl Session {
    /// Verifies the record at `pdf` pinned to the certificate at `pin` on the Records screen
    /// (already shown): types both paths, presses Enter in the form, and returns the verdict's
    /// state once it has one (`valid`, `rejected`, or `error` when the verification could not run). The previous verdict's state is
    /// reset first, so the wait sees this verdict, not the one before.
    pub async fn verify_record(&self, pdf: &str, pin: &str) -> String {
        self.client
            .execute(
                "document.getElementById('record-verify').dataset.state = 'idle';",
                vec![],
            )
            .await
            .expect("reset the verdict state");
        self.type_into("#record-path", pdf).await;
        self.type_into("#record-pin", pin).await;
        self.press(fantoccini::key::Key::Enter).await;
        self.wait("#record-verify:not([data-state='loading']):not([data-state='idle'])")
            .await
            .attr("data-state")
            .await
            .expect("the verdict's state")
            .unwrap_or_default()
    }

    /// The Records screen's checks table, row by row: (check, outcome, detail).
    pub async fn record_checks(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for row in self.all("#record-checks tbody tr").await {
            let check = row.attr("data-check").await.expect("the row's check");
            let outcome = row.attr("data-outcome").await.expect("the row's outcome");
            let (check, outcome) = (check.unwrap_or_default(), outcome.unwrap_or_default());
            let cells = row
                .find_all(fantoccini::Locator::Css("td"))
                .await
                .expect("a check row's cells");
            let detail = cells[2].text().await.expect("a check's detail");
            out.push((check, outcome, detail));
        }
        out
    }
}
