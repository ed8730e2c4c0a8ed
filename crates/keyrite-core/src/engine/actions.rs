//! The actions the engine runs for steps.
