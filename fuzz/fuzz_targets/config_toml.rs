//! The TOML config loader: `RawConfig::parse_toml` then `build`, as
//! `herald --config apps.toml` runs them. Checked: no panic, and a config that
//! builds has apps findable by their id and key.
#![no_main]

use herald::config::RawConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(raw) = RawConfig::parse_toml("fuzz.toml", text) else {
        return;
    };
    if let Ok(config) = raw.build() {
        for app in config.apps.iter() {
            assert_eq!(
                config.apps.by_id(&app.raw.id).map(|a| a.raw.key.clone()),
                Some(app.raw.key.clone())
            );
            assert_eq!(
                config.apps.by_key(&app.raw.key).map(|a| a.raw.id.clone()),
                Some(app.raw.id.clone())
            );
        }
        let _ = herald::config::summary::render(&config);
    }
});
