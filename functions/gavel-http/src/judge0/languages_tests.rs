use gavel_core::language;

use super::*;

/// This host's probe lines for the languages it has.
fn statuses(available: &[(&str, &str)]) -> Vec<LanguageStatus> {
    language::catalogue()
        .iter()
        .map(|language| {
            let version = available.iter().find(|(id, _)| *id == language.id).map(|(_, version)| (*version).to_owned());
            LanguageStatus { language, available: version.is_some(), version }
        })
        .collect()
}

fn here() -> Vec<LanguageStatus> {
    statuses(&[
        ("python", "Python 3.11.2"),
        ("javascript", "v20.20.2"),
        ("cpp", "g++ (Debian 12.2.0-14+deb12u1) 12.2.0"),
        ("c", "gcc (Debian 12.2.0-14+deb12u1) 12.2.0"),
        ("java", "javac 17.0.15"),
        ("bash", "GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)"),
        ("go", "go version go1.19.8 linux/amd64"),
        ("csharp", "Mono JIT compiler version 6.8.0.105 (Debian 6.8.0.105+dfsg-3.3 Wed Jun 28 2023)"),
        ("ruby", "ruby 3.1.2p20 (2022-04-12 revision 4491961d2b) [x86_64-linux]"),
        ("rust", "rustc 1.70.0 (90c541806 2023-05-31)"),
        ("typescript", "Version 5.0.4"),
    ])
}

fn name_of(catalog: &Catalog<'_>, id: u32) -> String {
    match catalog.find(id) {
        Lookup::Served(served) => served.name,
        other => panic!("{id} is not served: {other:?}"),
    }
}

#[test]
fn names_have_judge0s_shape_with_the_probed_versions() {
    let statuses = here();
    let catalog = Catalog(&statuses);
    let names: Vec<(u32, String)> = SERVED.iter().map(|(id, ..)| (*id, name_of(&catalog, *id))).collect();
    let expected = [
        (46, "Bash (5.2.15)"),
        (48, "C (GCC 12.2.0)"),
        (49, "C (GCC 12.2.0)"),
        (50, "C (GCC 12.2.0)"),
        (51, "C# (Mono 6.8.0.105)"),
        (52, "C++ (GCC 12.2.0)"),
        (53, "C++ (GCC 12.2.0)"),
        (54, "C++ (GCC 12.2.0)"),
        (60, "Go (1.19.8)"),
        (62, "Java (OpenJDK 17.0.15)"),
        (63, "JavaScript (Node.js 20.20.2)"),
        (71, "Python (3.11.2)"),
        (72, "Ruby (3.1.2)"),
        (73, "Rust (1.70.0)"),
        (74, "TypeScript (5.0.4)"),
    ];
    let expected: Vec<(u32, String)> = expected.iter().map(|(id, name)| (*id, (*name).to_owned())).collect();
    assert_eq!(names, expected);
}

#[test]
fn every_gavel_language_has_a_judge0_id() {
    for language in language::catalogue() {
        assert!(SERVED.iter().any(|(_, gavel, ..)| *gavel == language.id), "{} has no Judge0 id", language.id);
    }
    for (id, gavel, ..) in SERVED {
        assert!(language::find(gavel).is_some(), "{id} names {gavel}, not in the catalogue");
        assert!(JUDGE0.iter().any(|(judge0, ..)| *judge0 == id), "{id} is not a Judge0 1.13.1 id");
    }
}

#[test]
fn without_a_version_the_catalogue_name_is_shown() {
    let statuses: Vec<LanguageStatus> = language::catalogue()
        .iter()
        .map(|language| LanguageStatus { language, available: true, version: None })
        .collect();
    let catalog = Catalog(&statuses);
    assert_eq!(name_of(&catalog, 71), language::find("python").map(|l| l.display_name).unwrap_or_default());
}

#[test]
fn ids_gavel_does_not_run_here_are_archived_and_others_unknown() {
    let statuses = statuses(&[("python", "Python 3.11.2")]);
    let catalog = Catalog(&statuses);
    assert!(matches!(catalog.find(71), Lookup::Served(_)));
    assert!(matches!(catalog.find(54), Lookup::Archived { name: "C++ (GCC 9.2.0)", .. }), "unavailable here");
    assert!(matches!(catalog.find(68), Lookup::Archived { name: "PHP (7.4.1)", .. }));
    assert!(matches!(catalog.find(1), Lookup::Archived { name: "Bash (4.4)", .. }));
    assert_eq!(catalog.find(0), Lookup::Unknown);
    assert_eq!(catalog.find(150_000), Lookup::Unknown);
    assert_eq!(catalog.all().len(), 89);
}

#[test]
fn version_numbers_are_found_in_probe_lines() {
    assert_eq!(version_number("Python 3.11.2"), Some("3.11.2"));
    assert_eq!(version_number("v20.20.2"), Some("20.20.2"));
    assert_eq!(version_number("go version go1.19.8 linux/amd64"), Some("1.19.8"));
    assert_eq!(version_number("no digits"), None);
    assert_eq!(version_number("version 7"), None);
    assert_eq!(version_number("1."), None);
}
