//! Against moto's real SSM server: writes in two regions, reruns, conflicts, clobbering,
//! promotion and validation.

use moto_server::MotoServer;
use std::collections::BTreeMap;
use twoliter_ssm::{
    default_templates, promote, put, render, validate, Context, Parameters, SsmError,
};

const REGIONS: [&str; 2] = ["us-west-2", "eu-central-1"];
const PREFIX: &str = "/test/bottlerocket";

fn clients(server: &MotoServer) -> BTreeMap<String, aws_sdk_ssm::Client> {
    REGIONS
        .iter()
        .map(|r| {
            (
                r.to_string(),
                aws_sdk_ssm::Client::new(&server.sdk_config(r)),
            )
        })
        .collect()
}

fn context(region: &str, version: &str) -> Context {
    Context {
        variant: "aws-k8s-1.31".into(),
        arch: twoliter_project::Arch::X86_64,
        image_id: format!("ami-{region}-{version}"),
        image_name: format!("bottlerocket-aws-k8s-1.31-x86_64-v{version}"),
        image_version: version.into(),
        region: region.into(),
    }
}

fn contexts(version: &str) -> BTreeMap<String, Context> {
    REGIONS
        .iter()
        .map(|r| (r.to_string(), context(r, version)))
        .collect()
}

fn parameters(version: &str) -> Parameters {
    contexts(version)
        .into_iter()
        .map(|(region, c)| {
            let rendered = render(&default_templates(), PREFIX, &c).unwrap();
            (region, rendered)
        })
        .collect()
}

async fn value(client: &aws_sdk_ssm::Client, name: &str) -> Option<String> {
    client
        .get_parameter()
        .name(name)
        .send()
        .await
        .ok()?
        .parameter()?
        .value()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_rerun_conflict_and_clobber() {
    let server = MotoServer::start();
    let clients = clients(&server);
    let wanted = parameters("1.2.3");

    let report = put(&clients, &wanted, false).await.unwrap();
    assert_eq!((report.written, report.unchanged), (4, 0));
    assert!(report.changes.iter().all(|c| c.old.is_none()));
    let west = &clients["us-west-2"];
    let eu = &clients["eu-central-1"];
    let id_name = format!("{PREFIX}/aws-k8s-1.31/x86_64/1.2.3/image_id");
    assert_eq!(
        value(west, &id_name).await.as_deref(),
        Some("ami-us-west-2-1.2.3")
    );
    assert_eq!(
        value(eu, &id_name).await.as_deref(),
        Some("ami-eu-central-1-1.2.3")
    );

    // A rerun changes nothing.
    let report = put(&clients, &wanted, false).await.unwrap();
    assert_eq!((report.written, report.unchanged), (0, 4));

    // A different image id for the same version is refused, and nothing is written: not even
    // the new parameter that does not conflict.
    let mut changed = wanted.clone();
    let eu_params = changed.get_mut("eu-central-1").unwrap();
    eu_params.insert(id_name.clone(), "ami-other".into());
    let extra = format!("{PREFIX}/aws-k8s-1.31/x86_64/1.2.3/extra");
    eu_params.insert(extra.clone(), "x".into());
    let err = put(&clients, &changed, false).await.unwrap_err();
    let SsmError::Conflicts(conflicts) = &err else {
        panic!("expected a conflict, got {err}");
    };
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].region, "eu-central-1");
    assert_eq!(conflicts[0].current, "ami-eu-central-1-1.2.3");
    assert_eq!(conflicts[0].new, "ami-other");
    let message = err.to_string();
    assert!(message.contains(&id_name), "{message}");
    assert!(message.contains("--allow-clobber"), "{message}");
    assert_eq!(
        value(eu, &id_name).await.as_deref(),
        Some("ami-eu-central-1-1.2.3")
    );
    assert_eq!(value(eu, &extra).await, None);

    // With clobbering allowed, both are written and the old value is reported.
    let report = put(&clients, &changed, true).await.unwrap();
    assert_eq!((report.written, report.unchanged), (2, 3));
    let clobbered = report.changes.iter().find(|c| c.name == id_name).unwrap();
    assert_eq!(clobbered.old.as_deref(), Some("ami-eu-central-1-1.2.3"));
    assert_eq!(value(eu, &id_name).await.as_deref(), Some("ami-other"));
    assert_eq!(value(eu, &extra).await.as_deref(), Some("x"));
    // The other region is untouched.
    assert_eq!(
        value(west, &id_name).await.as_deref(),
        Some("ami-us-west-2-1.2.3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_parameters_are_read_in_batches() {
    let server = MotoServer::start();
    let clients = clients(&server);
    let mut wanted = Parameters::new();
    for region in REGIONS {
        let values = (0..23)
            .map(|i| (format!("{PREFIX}/many/p{i:02}"), format!("{region}-{i}")))
            .collect();
        wanted.insert(region.to_string(), values);
    }
    let report = put(&clients, &wanted, false).await.unwrap();
    assert_eq!((report.written, report.unchanged), (46, 0));
    let report = put(&clients, &wanted, false).await.unwrap();
    assert_eq!((report.written, report.unchanged), (0, 46));
    let report = validate(&clients, &wanted).await.unwrap();
    assert!(report.is_ok());
    assert_eq!(report.correct.len(), 46);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_copies_live_values_to_latest() {
    let server = MotoServer::start();
    let clients = clients(&server);
    let templates = {
        let mut t = default_templates();
        // Without {image_version} in its name: not promoted.
        t.push(twoliter_ssm::Template::new(
            "{variant}/{arch}/first_region",
            "{region}",
        ));
        t
    };

    // Missing source parameters are named, and nothing is written.
    let err = promote(&clients, &templates, PREFIX, &contexts("1.2.3"), "latest")
        .await
        .unwrap_err();
    let SsmError::MissingSource(missing) = &err else {
        panic!("expected missing sources, got {err}");
    };
    assert_eq!(missing.len(), 4);
    assert!(err
        .to_string()
        .contains(&format!("{PREFIX}/aws-k8s-1.31/x86_64/1.2.3/image_id")));

    put(&clients, &parameters("1.2.3"), false).await.unwrap();
    // The live value is copied, not the rendered one: change it behind promote's back.
    let west = &clients["us-west-2"];
    let id_123 = format!("{PREFIX}/aws-k8s-1.31/x86_64/1.2.3/image_id");
    west.put_parameter()
        .name(&id_123)
        .value("ami-live")
        .overwrite(true)
        .send()
        .await
        .unwrap();

    let report = promote(&clients, &templates, PREFIX, &contexts("1.2.3"), "latest")
        .await
        .unwrap();
    assert_eq!((report.written, report.unchanged), (4, 0));
    let latest_id = format!("{PREFIX}/aws-k8s-1.31/x86_64/latest/image_id");
    let latest_version = format!("{PREFIX}/aws-k8s-1.31/x86_64/latest/image_version");
    assert_eq!(value(west, &latest_id).await.as_deref(), Some("ami-live"));
    assert_eq!(value(west, &latest_version).await.as_deref(), Some("1.2.3"));
    let eu = &clients["eu-central-1"];
    assert_eq!(
        value(eu, &latest_id).await.as_deref(),
        Some("ami-eu-central-1-1.2.3")
    );
    assert_eq!(
        value(west, &format!("{PREFIX}/aws-k8s-1.31/x86_64/first_region")).await,
        None
    );

    // Promoting again is a no-op; promoting a newer version overwrites and reports the change.
    let report = promote(&clients, &templates, PREFIX, &contexts("1.2.3"), "latest")
        .await
        .unwrap();
    assert_eq!((report.written, report.unchanged), (0, 4));
    put(&clients, &parameters("1.3.0"), false).await.unwrap();
    let report = promote(&clients, &templates, PREFIX, &contexts("1.3.0"), "latest")
        .await
        .unwrap();
    assert_eq!((report.written, report.unchanged), (4, 0));
    let change = report
        .changes
        .iter()
        .find(|c| c.region == "us-west-2" && c.name == latest_id)
        .unwrap();
    assert_eq!(change.old.as_deref(), Some("ami-live"));
    assert_eq!(change.new, "ami-us-west-2-1.3.0");
    assert_eq!(value(eu, &latest_version).await.as_deref(), Some("1.3.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_correct_missing_and_different() {
    let server = MotoServer::start();
    let clients = clients(&server);
    let wanted = parameters("2.0.0");
    let mut partial = wanted.clone();
    partial.remove("eu-central-1");
    put(&clients, &partial, false).await.unwrap();
    let id_name = format!("{PREFIX}/aws-k8s-1.31/x86_64/2.0.0/image_id");
    clients["us-west-2"]
        .put_parameter()
        .name(&id_name)
        .value("ami-wrong")
        .overwrite(true)
        .send()
        .await
        .unwrap();

    let report = validate(&clients, &wanted).await.unwrap();
    assert!(!report.is_ok());
    assert_eq!(
        report.correct,
        vec![(
            "us-west-2".to_string(),
            format!("{PREFIX}/aws-k8s-1.31/x86_64/2.0.0/image_version")
        )]
    );
    assert_eq!(report.missing.len(), 2);
    assert!(report.missing.iter().all(|(r, _)| r == "eu-central-1"));
    assert_eq!(
        report.different,
        vec![(
            "us-west-2".to_string(),
            id_name,
            "ami-us-west-2-2.0.0".to_string(),
            "ami-wrong".to_string()
        )]
    );
    // The CLI prints the report as JSON.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["different"][0][3], "ami-wrong");

    // A region without a client is an error naming it.
    let mut other = wanted.clone();
    other.insert("ap-south-1".into(), BTreeMap::new());
    let err = validate(&clients, &other).await.unwrap_err();
    assert!(err.to_string().contains("ap-south-1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_errors_name_region_and_parameter() {
    let server = MotoServer::start();
    let clients = clients(&server);
    // `put` takes names as given (render refuses these); the service's refusal is reported
    // with the region, the operation, the parameter and the service's code.
    let name = "/aws/reserved/x".to_string();
    let mut wanted = Parameters::new();
    wanted.insert("us-west-2".into(), [(name.clone(), "x".to_string())].into());
    let err = put(&clients, &wanted, false).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("us-west-2"), "{message}");
    assert!(message.contains(&name), "{message}");
    assert!(message.contains("AccessDenied"), "{message}");
    assert!(message.contains("PutParameter"), "{message}");
}
