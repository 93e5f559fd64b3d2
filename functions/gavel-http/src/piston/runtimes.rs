//! Gavel's languages under Piston's names (its packages' `metadata.json`), with this
//! deployment's toolchain versions, and the lookup `POST /execute` does with them.

use gavel_core::language::{Language, LanguageStatus};
use serde::Serialize;

use super::version::{self, UNKNOWN};

/// How Piston names one of Gavel's languages.
struct PistonName {
    /// Gavel's catalogue id.
    gavel: &'static str,
    language: &'static str,
    aliases: &'static [&'static str],
    /// Aliases Piston's packages derive from the version (`python3.12`, `ts5`, `ruby3`): each
    /// prefix is followed by the major version, or by `major.minor` where `minor` says so.
    versioned: &'static [(&'static str, bool)],
    /// The package that provides the language, where it is not the language itself.
    runtime: Option<&'static str>,
}

/// Catalogue order; every catalogue id has exactly one entry (a test holds them together).
const NAMES: &[PistonName] = &[
    PistonName {
        gavel: "python",
        language: "python",
        aliases: &["py", "py3", "python3"],
        versioned: &[("python", true)],
        runtime: None,
    },
    PistonName {
        gavel: "javascript",
        language: "javascript",
        aliases: &["node-javascript", "node-js", "javascript", "js"],
        versioned: &[],
        runtime: Some("node"),
    },
    PistonName { gavel: "cpp", language: "c++", aliases: &["cpp", "g++"], versioned: &[], runtime: Some("gcc") },
    PistonName { gavel: "c", language: "c", aliases: &["gcc"], versioned: &[], runtime: Some("gcc") },
    PistonName {
        gavel: "csharp",
        language: "csharp",
        aliases: &["mono", "mono-csharp", "mono-c#", "mono-cs", "c#", "cs"],
        versioned: &[],
        runtime: Some("mono"),
    },
    PistonName { gavel: "java", language: "java", aliases: &[], versioned: &[], runtime: None },
    PistonName { gavel: "go", language: "go", aliases: &["go", "golang"], versioned: &[], runtime: None },
    PistonName { gavel: "rust", language: "rust", aliases: &["rs"], versioned: &[], runtime: None },
    PistonName {
        gavel: "typescript",
        language: "typescript",
        aliases: &["ts", "node-ts", "tsc"],
        versioned: &[("typescript", false), ("ts", false)],
        runtime: None,
    },
    PistonName { gavel: "ruby", language: "ruby", aliases: &["rb"], versioned: &[("ruby", false)], runtime: None },
    PistonName { gavel: "bash", language: "bash", aliases: &["sh"], versioned: &[], runtime: None },
];

/// One entry of `GET /runtimes`, and what a request for it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Runtime {
    pub language: &'static str,
    pub version: String,
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<&'static str>,
    #[serde(skip)]
    pub gavel: &'static Language,
}

impl Runtime {
    /// The package `GET /packages` lists it under: its provider, or the language itself.
    pub fn package(&self) -> &'static str {
        self.runtime.unwrap_or(self.language)
    }

    /// Piston's match: the language or one of its aliases, exactly (case included).
    fn is_named(&self, name: &str) -> bool {
        self.language == name || self.aliases.iter().any(|alias| alias == name)
    }
}

/// The runtimes this deployment has: its available languages, at their probed versions.
pub(crate) fn runtimes(statuses: &[LanguageStatus]) -> Vec<Runtime> {
    statuses
        .iter()
        .filter(|status| status.available)
        .filter_map(|status| {
            let name = NAMES.iter().find(|name| name.gavel == status.language.id)?;
            let version = status.version.as_deref().and_then(version::semver_of).unwrap_or_else(|| UNKNOWN.into());
            let mut aliases: Vec<String> = name.aliases.iter().map(|alias| (*alias).to_owned()).collect();
            aliases.extend(versioned_aliases(name.versioned, &version));
            Some(Runtime { language: name.language, version, aliases, runtime: name.runtime, gavel: status.language })
        })
        .collect()
}

fn versioned_aliases<'a>(prefixes: &'a [(&'static str, bool)], version: &'a str) -> impl Iterator<Item = String> + 'a {
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    // A version nobody probed names no alias.
    let known = version != UNKNOWN;
    prefixes.iter().filter(move |_| known).map(move |(prefix, with_minor)| {
        if *with_minor { format!("{prefix}{major}.{minor}") } else { format!("{prefix}{major}") }
    })
}

/// Piston's lookup: runtimes named `language` whose version satisfies the range `version`, the
/// newest of them. With `fallback`, a name whose versions all miss gets its newest runtime.
pub(crate) fn find<'a>(runtimes: &'a [Runtime], language: &str, version: &str, fallback: bool) -> Option<&'a Runtime> {
    let newest =
        |matching: Vec<&'a Runtime>| matching.into_iter().min_by(|a, b| version::newest_first(&a.version, &b.version));
    let named: Vec<&Runtime> = runtimes.iter().filter(|runtime| runtime.is_named(language)).collect();
    let satisfying = named.iter().copied().filter(|runtime| version::satisfies(&runtime.version, version)).collect();
    newest(satisfying).or_else(|| if fallback { newest(named) } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_core::language;

    fn statuses(version: Option<&str>) -> Vec<LanguageStatus> {
        language::catalogue()
            .iter()
            .map(|language| LanguageStatus { language, available: true, version: version.map(Into::into) })
            .collect()
    }

    #[test]
    fn every_catalogue_language_has_one_piston_name() {
        let ids: Vec<_> = NAMES.iter().map(|name| name.gavel).collect();
        assert_eq!(ids, language::ids());
        let mut names: Vec<_> = NAMES.iter().map(|name| name.language).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NAMES.len());
    }

    #[test]
    fn runtimes_carry_piston_names_and_probed_versions() {
        let mut statuses = statuses(None);
        statuses[0].version = Some("Python 3.11.2".into());
        statuses[1].available = false;
        let runtimes = runtimes(&statuses);
        assert!(runtimes.iter().all(|runtime| runtime.language != "javascript"), "unavailable languages are left out");
        let python = &runtimes[0];
        assert_eq!((python.language, python.version.as_str()), ("python", "3.11.2"));
        assert_eq!(python.aliases, ["py", "py3", "python3", "python3.11"]);
        let cpp = runtimes.iter().find(|runtime| runtime.gavel.id == "cpp").expect("c++");
        assert_eq!((cpp.language, cpp.runtime, cpp.version.as_str()), ("c++", Some("gcc"), UNKNOWN));
        assert_eq!(cpp.aliases, ["cpp", "g++"]);
    }

    #[test]
    fn versioned_aliases_follow_the_version() {
        let statuses = statuses(Some("Version 5.0.4"));
        let runtimes = runtimes(&statuses);
        let ts = runtimes.iter().find(|runtime| runtime.language == "typescript").expect("typescript");
        assert_eq!(ts.aliases, ["ts", "node-ts", "tsc", "typescript5", "ts5"]);
        let ruby = runtimes.iter().find(|runtime| runtime.language == "ruby").expect("ruby");
        assert_eq!(ruby.aliases, ["rb", "ruby5"]);
    }

    #[test]
    fn the_wire_form_omits_runtime_for_self_provided_languages() {
        let runtimes = runtimes(&statuses(Some("v20.11.1")));
        let json = serde_json::to_value(&runtimes).expect("serializes");
        assert_eq!(
            json[1],
            serde_json::json!({"language": "javascript", "version": "20.11.1",
                "aliases": ["node-javascript", "node-js", "javascript", "js"], "runtime": "node"})
        );
        assert!(json[0].get("runtime").is_none(), "{}", json[0]);
    }

    fn runtime(language: &'static str, version: &str) -> Runtime {
        let gavel = language::find("python").expect("python");
        Runtime { language, version: version.into(), aliases: vec!["py".into()], runtime: None, gavel }
    }

    #[test]
    fn lookup_takes_names_exactly_and_the_newest_match() {
        let runtimes = [runtime("python", "3.10.0"), runtime("python", "3.12.0"), runtime("python", "3.11.4")];
        let found = |language, version, fallback| find(&runtimes, language, version, fallback).map(|r| &*r.version);
        assert_eq!(found("python", "*", false), Some("3.12.0"));
        assert_eq!(found("py", "3.x", false), Some("3.12.0"));
        assert_eq!(found("python", "3.10.0", false), Some("3.10.0"));
        assert_eq!(found("python", "<3.12", false), Some("3.11.4"));
        assert_eq!(found("Python", "*", false), None, "case matters");
        assert_eq!(found("python", "2.7.18", false), None);
        assert_eq!(found("python", "2.7.18", true), Some("3.12.0"), "the fallback takes the newest");
        assert_eq!(found("cobol", "*", true), None, "the fallback never invents a language");
    }
}
