//! Plain HTTP(S) downloads for the lookaside cache (never used inside build containers).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Downloads `url` to `dest`. `Ok(false)` when the server answers 404 (the file is not there).
pub fn download(url: &str, dest: &Path) -> Result<bool, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .build();
    let response = match agent.get(url).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(404, _)) => return Ok(false),
        Err(ureq::Error::Status(code, response)) => {
            return Err(format!("HTTP {code} {}", response.status_text()))
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut file = std::fs::File::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    std::io::copy(&mut response.into_reader(), &mut file)
        .and_then(|_| file.flush())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("downloading to {}: {e}", dest.display()))?;
    Ok(true)
}
