//! `docker_image` (community.docker): an image present on the host (loaded from a `docker save`
//! archive on the host, pulled, or required to be there already) or absent, optionally tagged
//! into a `repository`. One read-only query (inspect of the image, the archive's existence, the
//! repository tag); loads, pulls, tags and removals are steps. It never builds images.

use serde_json::Value;

use super::{Found, Probe, check_name, docker, file_found, finish_inspect, object, probe, str_at};
use crate::core::{
    Diff, ExecOutput, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap,
    TaskCtx,
};
use crate::modules::args::{Args, Rules};

/// The `docker_image` module.
pub struct DockerImage;

const NAME: &str = "docker_image";

/// Parameters of `docker_image`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: NAME,
    doc: "Loads, pulls or removes a Docker image on the host with the docker CLI.",
    params: &[
        ParamSpec::new(
            "name",
            ParamKind::Str,
            "Image name, optionally with a tag (`labbox:1`) or digest.",
        )
        .required(),
        ParamSpec::new(
            "tag",
            ParamKind::Str,
            "Tag when name has none (default latest).",
        ),
        ParamSpec::new(
            "source",
            ParamKind::Str,
            "Where a missing image comes from: load (load_path), pull, or local (must exist).",
        )
        .choices(&["load", "pull", "local"]),
        ParamSpec::new(
            "load_path",
            ParamKind::Path,
            "A `docker save` archive on the host (source=load).",
        ),
        ParamSpec::new("state", ParamKind::Str, "present (default) or absent.")
            .choices(&["present", "absent"]),
        ParamSpec::new(
            "force_source",
            ParamKind::Bool,
            "Load or pull again even when the image exists.",
        ),
        ParamSpec::new(
            "force_tag",
            ParamKind::Bool,
            "Move an existing repository tag to this image.",
        ),
        ParamSpec::new(
            "force_absent",
            ParamKind::Bool,
            "state=absent: remove the image even if other tags or stopped containers use it.",
        ),
        ParamSpec::new(
            "repository",
            ParamKind::Str,
            "Also tag the image as this name (`repo/name:tag`).",
        ),
    ],
    free_form: false,
};

/// Argument rules of `docker_image`.
pub const RULES: Rules = Rules::NONE;

/// Splits an image reference into name and tag: `labbox:1` -> (`labbox`, `1`); a tag in the
/// name wins over `default_tag`; a port in a registry host (`reg:5000/x`) is not a tag; a
/// digest reference (`x@sha256:..`) is kept whole with no tag.
pub fn split_ref(reference: &str, default_tag: &str) -> (String, Option<String>) {
    if reference.contains('@') {
        return (reference.to_string(), None);
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (
                reference[..at].to_string(),
                Some(reference[at + 1..].to_string()),
            )
        }
        None => (reference.to_string(), Some(default_tag.to_string())),
    }
}

/// The full reference `name:tag` (or the digest reference as given).
pub fn full_ref(reference: &str, default_tag: &str) -> String {
    match split_ref(reference, default_tag) {
        (name, Some(tag)) => format!("{name}:{tag}"),
        (name, None) => name,
    }
}

/// The parsed task.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Want {
    reference: String,
    present: bool,
    source: Option<String>,
    load_path: Option<String>,
    force_source: bool,
    force_tag: bool,
    force_absent: bool,
    repository: Option<String>,
}

fn parse(a: &Args<'_>) -> Result<Want, ModuleError> {
    let name = a.req_str("name")?;
    check_name(NAME, "name", &name)?;
    let tag = a.str("tag")?.unwrap_or_else(|| "latest".to_string());
    let reference = full_ref(&name, &tag);
    let present = a.choice("state", "present")? == "present";
    let source = a.str("source")?;
    let load_path = a.str("load_path")?;
    if present && source.is_none() {
        return Err(ModuleError::Args(format!(
            "{NAME}: parameter 'source' is required with state=present (load, pull or local)"
        )));
    }
    if source.as_deref() == Some("load") && load_path.is_none() {
        return Err(ModuleError::Args(format!(
            "{NAME}: source=load needs parameter 'load_path' (a docker save archive on the host)"
        )));
    }
    let repository = match a.str("repository")? {
        Some(r) => {
            check_name(NAME, "repository", &r)?;
            // The repository takes the image's tag when it names none.
            let tag = split_ref(&reference, "latest")
                .1
                .unwrap_or_else(|| "latest".into());
            Some(full_ref(&r, &tag))
        }
        None => None,
    };
    Ok(Want {
        reference,
        present,
        source,
        load_path,
        force_source: a.bool("force_source", false)?,
        force_tag: a.bool("force_tag", false)?,
        force_absent: a.bool("force_absent", false)?,
        repository,
    })
}

fn probes(w: &Want) -> Vec<Probe> {
    let mut p = vec![Probe::Inspect("image", w.reference.clone())];
    if w.present {
        p.push(Probe::File(w.load_path.clone().unwrap_or_default()));
        if let Some(r) = &w.repository {
            p.push(Probe::Inspect("image", r.clone()));
        }
    }
    p
}

/// Commands and diffs for the wanted image given what the query found.
fn decide(w: &Want, found: &[Found]) -> Result<(Vec<String>, Vec<Diff>), ModuleError> {
    let current = object(found, 0);
    let what = format!("image {}", w.reference);
    let mut cmds = Vec::new();
    let mut diff = Vec::new();
    if !w.present {
        if current.is_some() {
            let mut rm = docker().arg("image").arg("rm");
            if w.force_absent {
                rm = rm.arg("--force");
            }
            cmds.push(rm.arg(&w.reference).build());
            diff.push(Diff::attr(&what, "state", "present", "absent"));
        }
        return Ok((cmds, diff));
    }
    let mut image_changes = current.is_none() || w.force_source;
    match w.source.as_deref() {
        Some("local") => {
            if current.is_none() {
                return Err(ModuleError::failed(format!(
                    "{NAME}: image {} is not on the host and source is local (load or pull it first)",
                    w.reference
                )));
            }
            image_changes = false;
        }
        Some("load") if image_changes => {
            let path = w.load_path.clone().unwrap_or_default();
            if !file_found(found, 1) {
                return Err(ModuleError::failed(format!(
                    "{NAME}: load_path {path} does not exist on the host"
                )));
            }
            let load = docker().arg("load").arg("--input").arg(&path).build();
            let check = docker()
                .arg("image")
                .arg("inspect")
                .arg(&w.reference)
                .build();
            let msg = crate::core::quote(&format!(
                "{NAME}: the archive {path} does not contain image {}",
                w.reference
            ));
            cmds.push(format!(
                "{load} && {{ {check} >/dev/null 2>&1 || {{ echo {msg} >&2; exit 1; }}; }}"
            ));
            let before = if current.is_some() {
                "present"
            } else {
                "absent"
            };
            diff.push(Diff::attr(
                &what,
                "state",
                before,
                &format!("present (loaded from {path})"),
            ));
        }
        Some("pull") if image_changes => {
            cmds.push(docker().arg("pull").arg(&w.reference).build());
            let before = if current.is_some() {
                "present"
            } else {
                "absent"
            };
            diff.push(Diff::attr(&what, "state", before, "present (pulled)"));
        }
        _ => {}
    }
    if let Some(repo) = &w.repository {
        let repo_image = object(found, 2);
        let source_id = current.map(|c| str_at(c, "/Id"));
        let retag = match repo_image {
            None => true,
            Some(r) => w.force_tag && (image_changes || source_id != Some(str_at(r, "/Id"))),
        };
        if retag {
            cmds.push(docker().arg("tag").arg(&w.reference).arg(repo).build());
            let before = match repo_image {
                None => "absent".to_string(),
                Some(r) => format!("tag of {}", str_at(r, "/Id")),
            };
            diff.push(Diff::attr(
                &format!("image {repo}"),
                "tag",
                &before,
                &format!("tag of {}", w.reference),
            ));
        }
    }
    Ok((cmds, diff))
}

#[async_trait::async_trait]
impl Module for DockerImage {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let w = parse(&a)?;
        let probes = probes(&w);
        let found = probe(ctx, NAME, &probes).await?;
        let (mut cmds, diff) = decide(&w, &found)?;
        let mut result = ResultMap::new();
        let current = object(&found, 0).cloned();
        if cmds.is_empty() {
            result.insert(
                "image".into(),
                current.unwrap_or(Value::Object(Default::default())),
            );
            return Ok(Plan::Unchanged { result });
        }
        result.insert("image".into(), Value::Object(Default::default()));
        if w.present {
            // The last step prints the image as it is now; `finish` stores it.
            cmds.push(
                docker()
                    .arg("image")
                    .arg("inspect")
                    .arg(&w.reference)
                    .build(),
            );
        }
        let steps = cmds.into_iter().map(|c| ctx.step(c.clone(), c)).collect();
        Ok(Plan::Change {
            diff,
            steps,
            result,
        })
    }

    fn finish(&self, result: &mut ResultMap, outputs: &[ExecOutput]) -> Result<(), ModuleError> {
        finish_inspect(NAME, "image", result, outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn want(v: Value) -> Result<Want, ModuleError> {
        let m = v.as_object().cloned().unwrap();
        let a = Args::parse(&SPEC, &m)?;
        parse(&a)
    }

    const IMAGE: &str = r#"[
    {
        "Id": "sha256:15f447181c270357f9540922e9f334228ddc765c7b84eb5069f0a233d616c991",
        "RepoTags": ["labbox:1"],
        "Comment": "Imported from -",
        "Config": {"Env": null, "Cmd": null, "Entrypoint": null, "Labels": null},
        "Architecture": "amd64",
        "Size": 1982283
    }
]"#;

    #[test]
    fn splits_references() {
        assert_eq!(full_ref("labbox:1", "latest"), "labbox:1");
        assert_eq!(full_ref("labbox", "2"), "labbox:2");
        assert_eq!(full_ref("reg:5000/app", "latest"), "reg:5000/app:latest");
        assert_eq!(full_ref("reg:5000/app:3", "latest"), "reg:5000/app:3");
        assert_eq!(full_ref("a@sha256:00", "latest"), "a@sha256:00");
    }

    #[test]
    fn parses_arguments() {
        let w =
            want(json!({"name": "labbox", "tag": "1", "source": "load", "load_path": "/r/x.tar"}))
                .unwrap();
        assert_eq!(w.reference, "labbox:1");
        let e = want(json!({"name": "labbox:1"})).unwrap_err();
        assert!(e.to_string().contains("'source' is required"), "{e}");
        let e = want(json!({"name": "labbox:1", "source": "load"})).unwrap_err();
        assert!(e.to_string().contains("load_path"), "{e}");
        let e = want(json!({"name": "labbox:1", "source": "build"})).unwrap_err();
        assert!(e.to_string().contains("not one of"), "{e}");
        assert!(want(json!({"name": "labbox:1", "state": "absent"})).is_ok());
        let w = want(json!({"name": "labbox:1", "source": "local", "repository": "mirror/labbox"}))
            .unwrap();
        assert_eq!(w.repository.as_deref(), Some("mirror/labbox:1"));
    }

    fn found(image: bool, file: bool, repo: Option<&str>) -> Vec<Found> {
        let img: Value = serde_json::from_str(IMAGE).unwrap();
        let mut f = vec![
            Found::Object(image.then(|| img[0].clone())),
            Found::File(file),
        ];
        if let Some(id) = repo {
            f.push(Found::Object(Some(json!({"Id": id}))));
        }
        f
    }

    #[test]
    fn decides_load_pull_local_and_absent() {
        let load = want(json!({"name": "labbox:1", "source": "load", "load_path": "/root/l.tar"}))
            .unwrap();
        let (cmds, diff) = decide(&load, &found(false, true, None)).unwrap();
        assert!(
            cmds[0].starts_with("docker load --input /root/l.tar && "),
            "{cmds:?}"
        );
        assert_eq!(diff[0].after, "state: present (loaded from /root/l.tar)\n");
        assert!(
            decide(&load, &found(true, true, None))
                .unwrap()
                .0
                .is_empty()
        );
        let e = decide(&load, &found(false, false, None)).unwrap_err();
        assert!(e.to_string().contains("does not exist on the host"), "{e}");

        let local = want(json!({"name": "nosuch:1", "source": "local"})).unwrap();
        let e = decide(&local, &found(false, false, None)).unwrap_err();
        assert!(
            e.to_string()
                .contains("not on the host and source is local"),
            "{e}"
        );
        let forced =
            want(json!({"name": "labbox:1", "source": "local", "force_source": true})).unwrap();
        assert!(
            decide(&forced, &found(true, false, None))
                .unwrap()
                .0
                .is_empty()
        );

        let pull =
            want(json!({"name": "labbox:1", "source": "pull", "force_source": true})).unwrap();
        let (cmds, _) = decide(&pull, &found(true, false, None)).unwrap();
        assert_eq!(cmds, vec!["docker pull labbox:1"]);

        let absent =
            want(json!({"name": "labbox:1", "state": "absent", "force_absent": true})).unwrap();
        let (cmds, diff) = decide(&absent, &found(true, false, None)[..1]).unwrap();
        assert_eq!(cmds, vec!["docker image rm --force labbox:1"]);
        assert_eq!(diff[0].after, "state: absent\n");
        assert!(
            decide(&absent, &found(false, false, None)[..1])
                .unwrap()
                .0
                .is_empty()
        );
    }

    #[test]
    fn tags_into_repository_only_when_needed() {
        let id = "sha256:15f447181c270357f9540922e9f334228ddc765c7b84eb5069f0a233d616c991";
        let w = want(json!({"name": "labbox:1", "source": "local", "repository": "mirror/labbox"}))
            .unwrap();
        let mut f = found(true, false, None);
        f.push(Found::Object(None));
        let (cmds, _) = decide(&w, &f).unwrap();
        assert_eq!(cmds, vec!["docker tag labbox:1 mirror/labbox:1"]);
        assert!(
            decide(&w, &found(true, false, Some(id)))
                .unwrap()
                .0
                .is_empty()
        );
        // A tag on another image moves only with force_tag.
        assert!(
            decide(&w, &found(true, false, Some("sha256:other")))
                .unwrap()
                .0
                .is_empty()
        );
        let w = want(json!({"name": "labbox:1", "source": "local", "repository": "mirror/labbox", "force_tag": true})).unwrap();
        assert_eq!(
            decide(&w, &found(true, false, Some("sha256:other")))
                .unwrap()
                .0
                .len(),
            1
        );
        assert!(
            decide(&w, &found(true, false, Some(id)))
                .unwrap()
                .0
                .is_empty()
        );
    }
}
