//! Plain HTTP(S) downloads for the lookaside cache (never used inside build containers).

use std::io::Write;
use std::time::Duration;

/// Downloads `url` into `dest`. `Ok(false)` when the server answers 404 or 403 (the file is not
/// there).
pub fn download(url: &str, dest: &mut std::fs::File) -> Result<bool, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .http_status_as_error(false)
        .user_agent(concat!("twoliter/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let status = response.status();
    // S3 and CloudFront answer 403 for objects that do not exist.
    if matches!(status.as_u16(), 403 | 404) {
        return Ok(false);
    }
    if !status.is_success() {
        return Err(format!("HTTP status {status}"));
    }
    let mut body = response.body_mut().with_config().limit(u64::MAX).reader();
    std::io::copy(&mut body, dest)
        .and_then(|_| dest.flush())
        .map_err(|e| format!("downloading: {e}"))?;
    Ok(true)
}
