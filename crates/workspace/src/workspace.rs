//! Workspace discovery and services (SPEC A1).

use std::path::{Path, PathBuf};

use cfn_yaml::{Node, NodeKind, Template};

use crate::addons::{Addons, AddonsKind};
use crate::error::{AddonsError, WorkspaceError};

/// Folders of `copilot/` that are not services.
const NOT_SERVICES: [&str; 2] = ["environments", "pipelines"];

/// A Copilot workspace: the folder holding `copilot/`, and the application name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
    app: String,
}

/// The Copilot service types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceType {
    LoadBalancedWebService,
    BackendService,
    WorkerService,
    RequestDrivenWebService,
    StaticSite,
}

impl ServiceType {
    pub const ALL: [ServiceType; 5] = [
        ServiceType::LoadBalancedWebService,
        ServiceType::BackendService,
        ServiceType::WorkerService,
        ServiceType::RequestDrivenWebService,
        ServiceType::StaticSite,
    ];
    /// The name as written in a manifest's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::LoadBalancedWebService => "Load Balanced Web Service",
            ServiceType::BackendService => "Backend Service",
            ServiceType::WorkerService => "Worker Service",
            ServiceType::RequestDrivenWebService => "Request-Driven Web Service",
            ServiceType::StaticSite => "Static Site",
        }
    }
    fn parse(s: &str) -> Option<ServiceType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for ServiceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service: `copilot/<name>/manifest.yml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    name: String,
    service_type: ServiceType,
    dir: PathBuf,
}

impl Service {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn service_type(&self) -> ServiceType {
        self.service_type
    }
    /// `copilot/<name>`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.yml")
    }
    /// `copilot/<name>/addons`.
    pub fn addons_dir(&self) -> PathBuf {
        self.dir.join("addons")
    }
    /// Reads and merges the service's addons; `Ok(None)` when it has none.
    pub fn addons(&self) -> Result<Option<Addons>, AddonsError> {
        Addons::load(&self.addons_dir())
    }
}

impl Workspace {
    /// Finds the workspace from `start`: the parent of the nearest `copilot/` folder in
    /// `start` or its parents. The app is `app` when given, else `application` of
    /// `copilot/.workspace`.
    pub fn discover(start: &Path, app: Option<&str>) -> Result<Workspace, WorkspaceError> {
        let abs = std::fs::canonicalize(start)
            .or_else(|_| std::path::absolute(start))
            .unwrap_or_else(|_| start.to_path_buf());
        let root = abs
            .ancestors()
            .find(|d| d.join("copilot").is_dir())
            .ok_or_else(|| WorkspaceError::NotInWorkspace { start: abs.clone() })?
            .to_path_buf();
        let app = match app {
            Some(a) => a.to_string(),
            None => read_app(&workspace_file(&root))?,
        };
        Ok(Workspace { root, app })
    }

    /// The folder holding `copilot/`.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `<root>/copilot`.
    pub fn copilot_dir(&self) -> PathBuf {
        self.root.join("copilot")
    }
    /// `<root>/copilot/.workspace`, where the application name is read from.
    pub fn workspace_file(&self) -> PathBuf {
        workspace_file(&self.root)
    }
    /// The application name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The services, sorted by name. Folders without `manifest.yml`, `environments/`,
    /// `pipelines/` and jobs are skipped; an invalid manifest is an error.
    pub fn list_services(&self) -> Result<Vec<Service>, WorkspaceError> {
        let mut out = Vec::new();
        for name in self.candidate_dirs()? {
            match load_service(&self.copilot_dir().join(&name), &name) {
                Ok(s) => out.push(s),
                Err(WorkspaceError::IsAJob { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The service `name`.
    pub fn service(&self, name: &str) -> Result<Service, WorkspaceError> {
        let dir = self.copilot_dir().join(name);
        let valid_name = !name.is_empty()
            && !name.contains(['/', '\\'])
            && name != "."
            && name != ".."
            && !NOT_SERVICES.contains(&name);
        if valid_name && dir.join("manifest.yml").is_file() {
            return load_service(&dir, name);
        }
        Err(WorkspaceError::ServiceNotFound {
            name: name.to_string(),
            dir: self.copilot_dir(),
            available: match self.list_services() {
                Ok(services) => services.into_iter().map(|s| s.name).collect(),
                Err(_) => self.candidate_dirs().unwrap_or_default(),
            },
        })
    }

    /// `<root>/copilot/environments/addons`: the addons of every environment.
    pub fn env_addons_dir(&self) -> PathBuf {
        self.copilot_dir().join("environments").join("addons")
    }

    /// Reads and merges the environments' addons (Copilot's environment rules: the templates
    /// declare `App` and `Env`); `Ok(None)` when there are none.
    pub fn env_addons(&self) -> Result<Option<Addons>, AddonsError> {
        Addons::load_kind(&self.env_addons_dir(), AddonsKind::Environment)
    }

    /// The environments of the workspace: the folders of `copilot/environments/` with a
    /// `manifest.yml`, sorted (none when the folder does not exist).
    pub fn list_environments(&self) -> Result<Vec<String>, WorkspaceError> {
        let dir = self.copilot_dir().join("environments");
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        dirs_with_manifest(&dir, &["addons"])
    }

    /// Names of the folders of `copilot/` with a `manifest.yml`, sorted.
    fn candidate_dirs(&self) -> Result<Vec<String>, WorkspaceError> {
        dirs_with_manifest(&self.copilot_dir(), &NOT_SERVICES)
    }
}

/// Names of the folders of `dir` with a `manifest.yml`, but `skip`, sorted.
fn dirs_with_manifest(dir: &Path, skip: &[&str]) -> Result<Vec<String>, WorkspaceError> {
    let dir = dir.to_path_buf();
    let read = std::fs::read_dir(&dir).map_err(|source| WorkspaceError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in read {
        let entry = entry.map_err(|source| WorkspaceError::Io {
            path: dir.clone(),
            source,
        })?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if skip.contains(&name.as_str()) {
            continue;
        }
        if entry.path().join("manifest.yml").is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn workspace_file(root: &Path) -> PathBuf {
    root.join("copilot").join(".workspace")
}

fn read_yaml(path: &Path) -> Result<Template, WorkspaceError> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkspaceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Template::parse(path, text)?)
}

/// A non-empty string field of a mapping document.
fn string_field<'a>(tpl: &'a Template, key: &str) -> Result<(&'a str, &'a Node), WorkspaceError> {
    let node = tpl
        .root()
        .get(key)
        .ok_or_else(|| WorkspaceError::MissingField {
            path: tpl.origin().to_path_buf(),
            key: key.to_string(),
        })?;
    match (&node.kind, node.tag.as_deref()) {
        (NodeKind::Scalar { value, .. }, None | Some("!!str")) if !value.trim().is_empty() => {
            Ok((value.as_str(), node))
        }
        _ => Err(WorkspaceError::InvalidField {
            at: tpl.locate(node.span),
            key: key.to_string(),
        }),
    }
}

fn read_app(path: &Path) -> Result<String, WorkspaceError> {
    if !path.is_file() {
        return Err(WorkspaceError::NoWorkspaceFile {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| WorkspaceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let blank = text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    });
    if blank {
        return Err(WorkspaceError::EmptyWorkspaceFile {
            path: path.to_path_buf(),
        });
    }
    let tpl = Template::parse(path, text)?;
    Ok(string_field(&tpl, "application")?.0.to_string())
}

fn load_service(dir: &Path, folder: &str) -> Result<Service, WorkspaceError> {
    let path = dir.join("manifest.yml");
    let tpl = read_yaml(&path)?;
    let (name, name_node) = string_field(&tpl, "name")?;
    let (ty, ty_node) = string_field(&tpl, "type")?;
    let at = |n: &Node| tpl.locate(n.span);
    let service_type = match ServiceType::parse(ty) {
        Some(t) => t,
        None if ty == "Scheduled Job" => {
            return Err(WorkspaceError::IsAJob {
                at: at(ty_node),
                name: name.to_string(),
            });
        }
        None => {
            return Err(WorkspaceError::UnknownServiceType {
                at: at(ty_node),
                service_type: ty.to_string(),
            });
        }
    };
    if name != folder {
        return Err(WorkspaceError::NameMismatch {
            at: at(name_node),
            name: name.to_string(),
            folder: folder.to_string(),
        });
    }
    Ok(Service {
        name: name.to_string(),
        service_type,
        dir: dir.to_path_buf(),
    })
}
