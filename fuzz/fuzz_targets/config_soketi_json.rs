//! Soketi's `config.json` loader (`config::soketi_json::parse`) then `build` and
//! the `herald config check` summary, as `herald --config config.json` runs
//! them. Checked: no panic.
#![no_main]

use herald::config::soketi_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((raw, _warnings)) = soketi_json::parse("config.json", text) else {
        return;
    };
    if let Ok(config) = raw.build() {
        let _ = herald::config::summary::render(&config);
    }
});
