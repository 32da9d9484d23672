//! Talking to SSM: batched reads, bounded parallel writes, retries with back-off.

use crate::error::{Conflict, SsmError};
use crate::template::{render_each, Context, Template};
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;
use futures::{stream, StreamExt};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// Per region: the parameters to have (region → name → value).
pub type Parameters = BTreeMap<String, BTreeMap<String, String>>;

/// GetParameters takes at most this many names.
const READ_BATCH: usize = 10;
/// Reads in flight at once, over all regions.
const READ_CONCURRENCY: usize = 8;
/// Writes in flight at once, over all regions (PutParameter's default quota is low).
const WRITE_CONCURRENCY: usize = 4;
/// Attempts per call when SSM throttles or the connection fails.
const ATTEMPTS: u32 = 8;
/// The first back-off delay; it doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// A parameter that was written: its previous value, if it existed, and its new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The region.
    pub region: String,
    /// The parameter's name.
    pub name: String,
    /// The value before, when the parameter existed.
    pub old: Option<String>,
    /// The value written.
    pub new: String,
}

/// What [`put`] or [`promote`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PutReport {
    /// Parameters written (created or overwritten).
    pub written: usize,
    /// Parameters that already had the wanted value and were left alone.
    pub unchanged: usize,
    /// Every written parameter, with its previous value, sorted by region and name.
    pub changes: Vec<Change>,
}

/// What [`validate`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ValidateReport {
    /// Parameters with the expected value: (region, name).
    pub correct: Vec<(String, String)>,
    /// Parameters that do not exist: (region, name).
    pub missing: Vec<(String, String)>,
    /// Parameters with another value: (region, name, expected, actual).
    pub different: Vec<(String, String, String, String)>,
}

impl ValidateReport {
    /// True when every parameter exists with its expected value.
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.different.is_empty()
    }
}

fn client<'a>(clients: &'a BTreeMap<String, Client>, region: &str) -> Result<&'a Client, SsmError> {
    clients.get(region).ok_or_else(|| SsmError::NoClient {
        region: region.to_string(),
    })
}

/// Names for messages: all of them when few, else the first ones and a count.
fn shown(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut out = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

fn service_error<E>(
    region: &str,
    operation: &'static str,
    names: &[String],
    error: SdkError<E>,
) -> SsmError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = error.code().map(str::to_string);
    let message = match error.message() {
        Some(m) => m.to_string(),
        None => DisplayErrorContext(&error).to_string(),
    };
    SsmError::Service {
        region: region.to_string(),
        operation,
        parameters: shown(names),
        code,
        message,
    }
}

/// True for failures worth another attempt: throttling, server errors, lost connections.
fn retryable<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            matches!(
                error.code(),
                Some(
                    "ThrottlingException"
                        | "Throttling"
                        | "TooManyUpdates"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                )
            ) || service.raw().status().is_server_error()
        }
        _ => false,
    }
}

/// Runs `call` until it succeeds, fails for good, or runs out of attempts, sleeping with
/// exponential back-off and jitter in between.
async fn retry<T, E, F, Fut>(what: &str, mut call: F) -> Result<T, SdkError<E>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    let mut delay = FIRST_DELAY;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if attempt < ATTEMPTS && retryable(&error) => {
                let wait = delay + jitter(delay);
                tracing::debug!(
                    "{what}: {} (attempt {attempt}); retrying in {wait:?}",
                    error.code().unwrap_or("transient failure")
                );
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(MAX_DELAY);
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Up to half of `delay`, from the clock's low bits (spreads out retries of parallel calls).
fn jitter(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let half = delay.as_millis().max(2) / 2;
    Duration::from_millis(u64::try_from(u128::from(nanos) % half).unwrap_or(0))
}

/// Reads the current values of `wanted` (region → names); absent parameters are left out.
async fn read(
    clients: &BTreeMap<String, Client>,
    wanted: &BTreeMap<String, Vec<String>>,
) -> Result<Parameters, SsmError> {
    let mut jobs = Vec::new();
    for (region, names) in wanted {
        let client = client(clients, region)?;
        for chunk in names.chunks(READ_BATCH) {
            jobs.push((region.as_str(), client, chunk.to_vec()));
        }
    }
    let results: Vec<_> = stream::iter(jobs)
        .map(|(region, client, names)| async move {
            let what = format!("GetParameters in {region}");
            let output = retry(&what, || {
                client
                    .get_parameters()
                    .set_names(Some(names.clone()))
                    .send()
            })
            .await
            .map_err(|e| service_error(region, "GetParameters", &names, e))?;
            let found: Vec<(String, String)> = output
                .parameters()
                .iter()
                .filter_map(|p| Some((p.name()?.to_string(), p.value()?.to_string())))
                .collect();
            Ok::<_, SsmError>((region, found))
        })
        .buffer_unordered(READ_CONCURRENCY)
        .collect()
        .await;
    let mut current = Parameters::new();
    for result in results {
        let (region, found) = result?;
        current.entry(region.to_string()).or_default().extend(found);
    }
    Ok(current)
}

fn names_of(parameters: &Parameters) -> BTreeMap<String, Vec<String>> {
    parameters
        .iter()
        .map(|(region, values)| (region.clone(), values.keys().cloned().collect()))
        .collect()
}

/// Writes the parameters (String type). Existing parameters with the same value are left alone (a
/// rerun is a no-op); an existing parameter with a different value is refused unless
/// `allow_clobber` — the error lists every conflicting name, region, current and new value, and
/// says to pass --allow-clobber. Nothing is written when any conflict is found (all are checked
/// first). Reads are batched (GetParameters, 10 names per call), writes run a few at a time, and
/// throttled calls are retried with back-off.
pub async fn put(
    clients: &BTreeMap<String, Client>,
    parameters: &Parameters,
    allow_clobber: bool,
) -> Result<PutReport, SsmError> {
    let current = read(clients, &names_of(parameters)).await?;
    let mut report = PutReport::default();
    let mut conflicts = Vec::new();
    let mut writes = Vec::new();
    for (region, values) in parameters {
        let existing = current.get(region);
        for (name, value) in values {
            let old = existing.and_then(|e| e.get(name));
            match old {
                Some(old) if old == value => report.unchanged += 1,
                Some(old) if !allow_clobber => conflicts.push(Conflict {
                    region: region.clone(),
                    name: name.clone(),
                    current: old.clone(),
                    new: value.clone(),
                }),
                _ => writes.push(Change {
                    region: region.clone(),
                    name: name.clone(),
                    old: old.cloned(),
                    new: value.clone(),
                }),
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(SsmError::Conflicts(conflicts));
    }
    let results: Vec<_> = stream::iter(writes)
        .map(|change| async move {
            let client = client(clients, &change.region)?;
            let what = format!("PutParameter {} in {}", change.name, change.region);
            retry(&what, || {
                client
                    .put_parameter()
                    .name(&change.name)
                    .value(&change.new)
                    .r#type(ParameterType::String)
                    // Only overwrite what was read (and allowed); a parameter created meanwhile
                    // makes the write fail instead of being clobbered.
                    .overwrite(change.old.is_some())
                    .send()
            })
            .await
            .map_err(|e| {
                service_error(
                    &change.region,
                    "PutParameter",
                    std::slice::from_ref(&change.name),
                    e,
                )
            })?;
            tracing::info!(
                "wrote SSM parameter {} = {} in {}",
                change.name,
                change.new,
                change.region
            );
            Ok::<_, SsmError>(change)
        })
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect()
        .await;
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(change) => report.changes.push(change),
            Err(error) => failures.push(error),
        }
    }
    report
        .changes
        .sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
    report.written = report.changes.len();
    if failures.is_empty() {
        Ok(report)
    } else {
        Err(SsmError::Writes {
            written: report.written,
            failures,
        })
    }
}

/// Copies the live values of the parameters rendered for version `source` (the `image_version`
/// of each region's context) to the names rendered for `target` (e.g. "latest"), in every region
/// of `contexts` (region → context of the source version). Templates whose name does not contain
/// {image_version} are skipped; a missing source parameter is an error naming it, and then nothing
/// is written. Promotion overwrites the target (that is its job); the report lists what changed.
pub async fn promote(
    clients: &BTreeMap<String, Client>,
    templates: &[Template],
    prefix: &str,
    contexts: &BTreeMap<String, Context>,
    target: &str,
) -> Result<PutReport, SsmError> {
    let promoted: Vec<Template> = templates
        .iter()
        .filter(|t| t.name.contains("{image_version}"))
        .cloned()
        .collect();
    if promoted.is_empty() {
        return Err(SsmError::NothingToPromote);
    }
    // region → [(source name, target name)]
    let mut pairs: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (region, context) in contexts {
        client(clients, region)?;
        let sources = render_each(&promoted, prefix, context)?;
        let target_context = Context {
            image_version: target.to_string(),
            ..context.clone()
        };
        let targets = render_each(&promoted, prefix, &target_context)?;
        pairs.insert(
            region.clone(),
            sources
                .into_iter()
                .zip(targets)
                .map(|((source, _), (target, _))| (source, target))
                .collect(),
        );
    }
    let wanted = pairs
        .iter()
        .map(|(region, pairs)| (region.clone(), pairs.iter().map(|p| p.0.clone()).collect()))
        .collect();
    let current = read(clients, &wanted).await?;
    let mut parameters = Parameters::new();
    let mut missing = Vec::new();
    for (region, pairs) in &pairs {
        for (source, target) in pairs {
            match current.get(region).and_then(|c| c.get(source)) {
                Some(value) => {
                    parameters
                        .entry(region.clone())
                        .or_default()
                        .insert(target.clone(), value.clone());
                }
                None => missing.push((region.clone(), source.clone())),
            }
        }
    }
    if !missing.is_empty() {
        return Err(SsmError::MissingSource(missing));
    }
    put(clients, &parameters, true).await
}

/// Checks that every parameter exists in its region with the expected value.
pub async fn validate(
    clients: &BTreeMap<String, Client>,
    parameters: &Parameters,
) -> Result<ValidateReport, SsmError> {
    let current = read(clients, &names_of(parameters)).await?;
    let mut report = ValidateReport::default();
    for (region, values) in parameters {
        for (name, expected) in values {
            match current.get(region).and_then(|c| c.get(name)) {
                Some(actual) if actual == expected => {
                    report.correct.push((region.clone(), name.clone()))
                }
                Some(actual) => report.different.push((
                    region.clone(),
                    name.clone(),
                    expected.clone(),
                    actual.clone(),
                )),
                None => report.missing.push((region.clone(), name.clone())),
            }
        }
    }
    Ok(report)
}
