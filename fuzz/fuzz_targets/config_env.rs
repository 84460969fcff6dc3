//! The environment loader: a `.env` text (`config::env::parse_dotenv`) becomes
//! the variables that `config::env::apply` layers on the defaults, then
//! `build`; `config::env::unsupported` lists the ignored ones. Checked: no panic.
#![no_main]

use herald::config::{env, RawConfig};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vars: HashMap<String, String> = env::parse_dotenv(text).into_iter().collect();
    let _ = env::unsupported(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut raw = RawConfig::default();
    let lookup = |name: &str| vars.get(name).cloned();
    if env::apply(&mut raw, &lookup).is_ok() {
        let _ = raw.build();
    }
});
