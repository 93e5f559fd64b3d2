//! Judge0's language ids (`db/languages/{archived,active}.rb` of 1.13.1) and which of them Gavel
//! runs here: `GET /languages`, `/languages/all`, `/languages/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use gavel_core::Language;
use gavel_core::language::LanguageStatus;
use serde_json::{Value, json};

use super::auth::Authn;
use super::error::Judge0Error;
use super::request::ruby_to_i;
use crate::Ctx;

/// Every language of Judge0 CE 1.13.1: id, name, source file. Those Gavel does not run here are
/// listed as archived, as Judge0 lists its retired ones.
const JUDGE0: [(u32, &str, Option<&str>); 89] = [
    (1, "Bash (4.4)", Some("script.sh")),
    (2, "Bash (4.0)", Some("script.sh")),
    (3, "Basic (fbc 1.05.0)", Some("main.bas")),
    (4, "C (gcc 7.2.0)", Some("main.c")),
    (5, "C (gcc 6.4.0)", Some("main.c")),
    (6, "C (gcc 6.3.0)", Some("main.c")),
    (7, "C (gcc 5.4.0)", Some("main.c")),
    (8, "C (gcc 4.9.4)", Some("main.c")),
    (9, "C (gcc 4.8.5)", Some("main.c")),
    (10, "C++ (g++ 7.2.0)", Some("main.cpp")),
    (11, "C++ (g++ 6.4.0)", Some("main.cpp")),
    (12, "C++ (g++ 6.3.0)", Some("main.cpp")),
    (13, "C++ (g++ 5.4.0)", Some("main.cpp")),
    (14, "C++ (g++ 4.9.4)", Some("main.cpp")),
    (15, "C++ (g++ 4.8.5)", Some("main.cpp")),
    (16, "C# (mono 5.4.0.167)", Some("Main.cs")),
    (17, "C# (mono 5.2.0.224)", Some("Main.cs")),
    (18, "Clojure (1.8.0)", Some("main.clj")),
    (19, "Crystal (0.23.1)", Some("main.cr")),
    (20, "Elixir (1.5.1)", Some("main.exs")),
    (21, "Erlang (OTP 20.0)", Some("main.erl")),
    (22, "Go (1.9)", Some("main.go")),
    (23, "Haskell (ghc 8.2.1)", Some("main.hs")),
    (24, "Haskell (ghc 8.0.2)", Some("main.hs")),
    (25, "Insect (5.0.0)", Some("main.ins")),
    (26, "Java (OpenJDK 9 with Eclipse OpenJ9)", Some("Main.java")),
    (27, "Java (OpenJDK 8)", Some("Main.java")),
    (28, "Java (OpenJDK 7)", Some("Main.java")),
    (29, "JavaScript (nodejs 8.5.0)", Some("main.js")),
    (30, "JavaScript (nodejs 7.10.1)", Some("main.js")),
    (31, "OCaml (4.05.0)", Some("main.ml")),
    (32, "Octave (4.2.0)", Some("file.m")),
    (33, "Pascal (fpc 3.0.0)", Some("main.pas")),
    (34, "Python (3.6.0)", Some("main.py")),
    (35, "Python (3.5.3)", Some("main.py")),
    (36, "Python (2.7.9)", Some("main.py")),
    (37, "Python (2.6.9)", Some("main.py")),
    (38, "Ruby (2.4.0)", Some("main.rb")),
    (39, "Ruby (2.3.3)", Some("main.rb")),
    (40, "Ruby (2.2.6)", Some("main.rb")),
    (41, "Ruby (2.1.9)", Some("main.rb")),
    (42, "Rust (1.20.0)", Some("main.rs")),
    (43, "Plain Text", Some("text.txt")),
    (44, "Executable", Some("a.out")),
    (45, "Assembly (NASM 2.14.02)", Some("main.asm")),
    (46, "Bash (5.0.0)", Some("script.sh")),
    (47, "Basic (FBC 1.07.1)", Some("main.bas")),
    (48, "C (GCC 7.4.0)", Some("main.c")),
    (49, "C (GCC 8.3.0)", Some("main.c")),
    (50, "C (GCC 9.2.0)", Some("main.c")),
    (51, "C# (Mono 6.6.0.161)", Some("Main.cs")),
    (52, "C++ (GCC 7.4.0)", Some("main.cpp")),
    (53, "C++ (GCC 8.3.0)", Some("main.cpp")),
    (54, "C++ (GCC 9.2.0)", Some("main.cpp")),
    (55, "Common Lisp (SBCL 2.0.0)", Some("script.lisp")),
    (56, "D (DMD 2.089.1)", Some("main.d")),
    (57, "Elixir (1.9.4)", Some("script.exs")),
    (58, "Erlang (OTP 22.2)", Some("main.erl")),
    (59, "Fortran (GFortran 9.2.0)", Some("main.f90")),
    (60, "Go (1.13.5)", Some("main.go")),
    (61, "Haskell (GHC 8.8.1)", Some("main.hs")),
    (62, "Java (OpenJDK 13.0.1)", Some("Main.java")),
    (63, "JavaScript (Node.js 12.14.0)", Some("script.js")),
    (64, "Lua (5.3.5)", Some("script.lua")),
    (65, "OCaml (4.09.0)", Some("main.ml")),
    (66, "Octave (5.1.0)", Some("script.m")),
    (67, "Pascal (FPC 3.0.4)", Some("main.pas")),
    (68, "PHP (7.4.1)", Some("script.php")),
    (69, "Prolog (GNU Prolog 1.4.5)", Some("main.pro")),
    (70, "Python (2.7.17)", Some("script.py")),
    (71, "Python (3.8.1)", Some("script.py")),
    (72, "Ruby (2.7.0)", Some("script.rb")),
    (73, "Rust (1.40.0)", Some("main.rs")),
    (74, "TypeScript (3.7.4)", Some("script.ts")),
    (75, "C (Clang 7.0.1)", Some("main.c")),
    (76, "C++ (Clang 7.0.1)", Some("main.cpp")),
    (77, "COBOL (GnuCOBOL 2.2)", Some("main.cob")),
    (78, "Kotlin (1.3.70)", Some("Main.kt")),
    (79, "Objective-C (Clang 7.0.1)", Some("main.m")),
    (80, "R (4.0.0)", Some("script.r")),
    (81, "Scala (2.13.2)", Some("Main.scala")),
    (82, "SQL (SQLite 3.27.2)", Some("script.sql")),
    (83, "Swift (5.2.3)", Some("Main.swift")),
    (84, "Visual Basic.Net (vbnc 0.0.0.5943)", Some("Main.vb")),
    (85, "Perl (5.28.1)", Some("script.pl")),
    (86, "Clojure (1.10.1)", Some("main.clj")),
    (87, "F# (.NET Core SDK 3.1.202)", Some("script.fsx")),
    (88, "Groovy (3.0.3)", Some("script.groovy")),
    (89, "Multi-file program", None),
];

/// The ids Gavel runs: Gavel's language, and the name's shape (`Lang (Tool X.Y.Z)`). The SDK's
/// aliases resolve `judge0.CPP` to 52 and `judge0.C` to 50, so all three GCC ids are served.
const SERVED: [(u32, &str, &str, Option<&str>); 15] = [
    (46, "bash", "Bash", None),
    (48, "c", "C", Some("GCC")),
    (49, "c", "C", Some("GCC")),
    (50, "c", "C", Some("GCC")),
    (51, "csharp", "C#", Some("Mono")),
    (52, "cpp", "C++", Some("GCC")),
    (53, "cpp", "C++", Some("GCC")),
    (54, "cpp", "C++", Some("GCC")),
    (60, "go", "Go", None),
    (62, "java", "Java", Some("OpenJDK")),
    (63, "javascript", "JavaScript", Some("Node.js")),
    (71, "python", "Python", None),
    (72, "ruby", "Ruby", None),
    (73, "rust", "Rust", None),
    (74, "typescript", "TypeScript", None),
];

/// A Judge0 language this deployment runs.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Served {
    pub id: u32,
    pub name: String,
    pub language: &'static Language,
}

/// What an id names here.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Lookup {
    Served(Served),
    /// A Judge0 1.13.1 id Gavel does not run (here).
    Archived {
        id: u32,
        name: &'static str,
        source_file: Option<&'static str>,
    },
    Unknown,
}

/// The languages of one deployment, as Judge0 ids.
pub(super) struct Catalog<'a>(pub &'a [LanguageStatus]);

impl Catalog<'_> {
    pub(super) fn find(&self, id: u32) -> Lookup {
        let served = SERVED.iter().find(|(served, ..)| *served == id);
        let status = served
            .and_then(|(_, gavel, ..)| self.0.iter().find(|status| status.available && status.language.id == *gavel));
        match (served, status) {
            (Some(&(id, _, lang, tool)), Some(status)) => {
                Lookup::Served(Served { id, name: name(lang, tool, status), language: status.language })
            }
            _ => match JUDGE0.iter().find(|(judge0, ..)| *judge0 == id) {
                Some(&(id, name, source_file)) => Lookup::Archived { id, name, source_file },
                None => Lookup::Unknown,
            },
        }
    }

    /// Every Judge0 id with what it names here, by name as Judge0 orders them.
    fn all(&self) -> Vec<Lookup> {
        let mut all: Vec<Lookup> = JUDGE0.iter().map(|(id, ..)| self.find(*id)).collect();
        all.sort_by(|a, b| (label(a), id_of(a)).cmp(&(label(b), id_of(b))));
        all
    }

    /// The name of a served id, for the submission's `language` attribute.
    pub(super) fn name(&self, id: u32) -> Option<String> {
        match self.find(id) {
            Lookup::Served(served) => Some(served.name),
            Lookup::Archived { name, .. } => Some(name.to_owned()),
            Lookup::Unknown => None,
        }
    }
}

fn label(lookup: &Lookup) -> &str {
    match lookup {
        Lookup::Served(served) => &served.name,
        Lookup::Archived { name, .. } => name,
        Lookup::Unknown => "",
    }
}

fn id_of(lookup: &Lookup) -> u32 {
    match lookup {
        Lookup::Served(served) => served.id,
        Lookup::Archived { id, .. } => *id,
        Lookup::Unknown => 0,
    }
}

/// `Python (3.11.2)`, `C++ (GCC 12.2.0)`: Judge0's shape with the toolchain this deployment
/// probed. Without a probed version (a cloud deployment), Gavel's own name for the language.
fn name(lang: &str, tool: Option<&str>, status: &LanguageStatus) -> String {
    match (status.version.as_deref().and_then(version_number), tool) {
        (Some(version), Some(tool)) => format!("{lang} ({tool} {version})"),
        (Some(version), None) => format!("{lang} ({version})"),
        (None, _) => status.language.display_name.to_owned(),
    }
}

/// The first dotted number in a version probe's line: `12.2.0` of
/// `g++ (Debian 12.2.0-14+deb12u1) 12.2.0`, `1.19.8` of `go version go1.19.8 linux/amd64`.
fn version_number(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if bytes[start].is_ascii_digit() && (start == 0 || !bytes[start - 1].is_ascii_digit()) {
            let mut end = start;
            let mut dots = 0;
            while end < bytes.len()
                && (bytes[end].is_ascii_digit()
                    || (bytes[end] == b'.' && bytes.get(end + 1).is_some_and(u8::is_ascii_digit)))
            {
                dots += usize::from(bytes[end] == b'.');
                end += 1;
            }
            if dots > 0 {
                return Some(&line[start..end]);
            }
            start = end;
        } else {
            start += 1;
        }
    }
    None
}

/// `GET /languages`: what runs here, by name.
pub(super) async fn index(_: Authn, State(ctx): State<Ctx>) -> Json<Value> {
    let served = Catalog(&ctx.state.languages).all().into_iter().filter_map(|lookup| match lookup {
        Lookup::Served(served) => Some(json!({"id": served.id, "name": served.name})),
        _ => None,
    });
    Json(Value::Array(served.collect()))
}

/// `GET /languages/all`: every id, archived ones too.
pub(super) async fn all(_: Authn, State(ctx): State<Ctx>) -> Json<Value> {
    let all = Catalog(&ctx.state.languages).all().into_iter().map(|lookup| {
        let archived = !matches!(lookup, Lookup::Served(_));
        json!({"id": id_of(&lookup), "name": label(&lookup), "is_archived": archived})
    });
    Json(Value::Array(all.collect()))
}

/// `GET /languages/{id}`: one id, archived or not; 404 for ids Judge0 never had.
pub(super) async fn show(_: Authn, State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    let id = u32::try_from(ruby_to_i(&id)).unwrap_or(0);
    match Catalog(&ctx.state.languages).find(id) {
        Lookup::Served(served) => Json(json!({
            "id": served.id,
            "name": served.name,
            "is_archived": false,
            "source_file": served.language.source_file,
            "compile_cmd": served.language.compile.map(|command| command.join(" ")),
            "run_cmd": served.language.run.join(" "),
        }))
        .into_response(),
        Lookup::Archived { id, name, source_file } => Json(json!({
            "id": id, "name": name, "is_archived": true, "source_file": source_file,
            "compile_cmd": null, "run_cmd": null,
        }))
        .into_response(),
        Lookup::Unknown => Judge0Error::NotFound.into_response(),
    }
}

#[cfg(test)]
#[path = "languages_tests.rs"]
mod tests;
