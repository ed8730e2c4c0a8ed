//! Answers files: unattended rehearsal (`keyrite ceremony run --answers FILE`). Format:
//! `docs/formats/answers.md`. Refused in production.
