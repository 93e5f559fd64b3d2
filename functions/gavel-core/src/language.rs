//! The language catalogue, as data. Commands run inside the sandbox with the work dir as cwd.

use serde::Serialize;

/// One language: how to recognise it, compile it and run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Language {
    pub id: &'static str,
    pub aliases: &'static [&'static str],
    pub display_name: &'static str,
    /// File extensions (without dot) that `gavel run FILE` maps to this language.
    pub extensions: &'static [&'static str],
    /// The file the submitted code is written to.
    pub source_file: &'static str,
    /// Absent for interpreted languages.
    pub compile: Option<&'static [&'static str]>,
    pub run: &'static [&'static str],
    /// Prints the toolchain version; its first non-empty line is reported.
    pub version: &'static [&'static str],
    /// Environment the toolchain needs beyond PATH and LANG.
    pub env: &'static [(&'static str, &'static str)],
    /// Host paths the toolchain reads besides /usr, mounted read-only in the sandbox.
    pub toolchain_paths: &'static [&'static str],
}

/// The PATH programs get in the sandbox; toolchain probes use it too, so they find the same binaries.
pub const TOOLCHAIN_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Where `program` is on [`TOOLCHAIN_PATH`] (itself when it names a path), for the benchmarks'
/// bare runs: Rust's std forks rather than posix_spawn when a child's PATH is not ours and the
/// program must be looked up, and the fork of a large process is no bare fork+exec.
pub fn on_toolchain_path(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        return Some(program.into());
    }
    TOOLCHAIN_PATH.split(':').map(|dir| std::path::Path::new(dir).join(program)).find(|p| p.is_file())
}

const CATALOGUE: &[Language] = &[
    Language {
        id: "python",
        aliases: &["py", "python3"],
        display_name: "Python 3",
        extensions: &["py"],
        source_file: "main.py",
        compile: None,
        run: &["python3", "main.py"],
        version: &["python3", "--version"],
        env: &[("PYTHONDONTWRITEBYTECODE", "1"), ("PYTHONIOENCODING", "utf-8")],
        toolchain_paths: &[],
    },
    Language {
        id: "javascript",
        aliases: &["js", "node", "nodejs"],
        display_name: "JavaScript (Node.js)",
        extensions: &["js", "mjs"],
        source_file: "main.js",
        compile: None,
        run: &["node", "main.js"],
        version: &["node", "--version"],
        env: &[],
        toolchain_paths: &[],
    },
    Language {
        id: "cpp",
        aliases: &["c++", "cpp17", "g++"],
        display_name: "C++17 (GCC)",
        extensions: &["cpp", "cc", "cxx"],
        source_file: "main.cpp",
        compile: Some(&["g++", "-std=c++17", "-O2", "-pipe", "-o", "main", "main.cpp"]),
        run: &["./main"],
        version: &["g++", "--version"],
        env: &[],
        toolchain_paths: &[],
    },
    Language {
        id: "c",
        aliases: &["c11", "gcc"],
        display_name: "C11 (GCC)",
        extensions: &["c"],
        source_file: "main.c",
        compile: Some(&["gcc", "-std=c11", "-O2", "-pipe", "-o", "main", "main.c", "-lm"]),
        run: &["./main"],
        version: &["gcc", "--version"],
        env: &[],
        toolchain_paths: &[],
    },
    Language {
        id: "csharp",
        aliases: &["c#", "cs", "mono"],
        display_name: "C# (Mono)",
        extensions: &["cs"],
        source_file: "main.cs",
        compile: Some(&["mcs", "-optimize+", "-out:main.exe", "main.cs"]),
        run: &["mono", "main.exe"],
        version: &["mono", "--version"],
        env: &[],
        toolchain_paths: &["/etc/mono"],
    },
    Language {
        id: "java",
        aliases: &["java17", "jdk"],
        display_name: "Java 17 (OpenJDK)",
        extensions: &["java"],
        source_file: "Main.java",
        compile: Some(&["javac", "-encoding", "UTF-8", "-d", ".", "Main.java"]),
        // The serial collector: fewer threads (they count as processes) and less memory.
        // A small initial heap: the JVM's default (1/64 of the host's RAM) is committed at start
        // and would exceed a memory limit enforced by RLIMIT_DATA (containers, Fargate).
        run: &["java", "-XX:+UseSerialGC", "-Xms16m", "-cp", ".", "Main"],
        version: &["javac", "-version"],
        env: &[],
        toolchain_paths: &["/etc/java-17-openjdk"],
    },
    Language {
        id: "go",
        aliases: &["golang"],
        display_name: "Go",
        extensions: &["go"],
        source_file: "main.go",
        compile: Some(&["go", "build", "-o", "main", "main.go"]),
        run: &["./main"],
        version: &["go", "version"],
        // A single file needs no module; no cgo, so no C toolchain is involved.
        env: &[("GO111MODULE", "off"), ("CGO_ENABLED", "0")],
        toolchain_paths: &[],
    },
    Language {
        id: "rust",
        aliases: &["rs", "rustc"],
        display_name: "Rust",
        extensions: &["rs"],
        source_file: "main.rs",
        compile: Some(&["rustc", "-O", "--edition", "2021", "-o", "main", "main.rs"]),
        run: &["./main"],
        version: &["rustc", "--version"],
        env: &[],
        toolchain_paths: &[],
    },
    Language {
        id: "typescript",
        aliases: &["ts"],
        display_name: "TypeScript (tsc, Node.js)",
        extensions: &["ts"],
        source_file: "main.ts",
        compile: Some(&[
            "tsc",
            "--target",
            "es2022",
            "--module",
            "commonjs",
            "--typeRoots",
            "/usr/lib/node_modules/@types",
            "--types",
            "node",
            "--outDir",
            ".",
            "main.ts",
        ]),
        run: &["node", "main.js"],
        version: &["tsc", "--version"],
        env: &[],
        toolchain_paths: &[],
    },
    Language {
        id: "ruby",
        aliases: &["rb"],
        display_name: "Ruby",
        extensions: &["rb"],
        source_file: "main.rb",
        compile: None,
        run: &["ruby", "main.rb"],
        version: &["ruby", "--version"],
        env: &[],
        toolchain_paths: &[],
    },
    Language {
        id: "bash",
        aliases: &["sh", "shell"],
        display_name: "Bash",
        extensions: &["sh", "bash"],
        source_file: "main.sh",
        compile: None,
        run: &["bash", "main.sh"],
        version: &["bash", "--version"],
        env: &[],
        toolchain_paths: &[],
    },
];

impl Language {
    /// The compile command with `options` just before the source file (where compilers take
    /// flags and extra inputs alike); `None` for an interpreted language.
    pub fn compile_command(&self, options: &[String]) -> Option<Vec<String>> {
        let compile = self.compile?;
        let at = compile.iter().rposition(|word| *word == self.source_file).unwrap_or(compile.len());
        let (before, after) = compile.split_at(at);
        let words = before.iter().map(|w| (*w).to_owned()).chain(options.iter().cloned());
        Some(words.chain(after.iter().map(|w| (*w).to_owned())).collect())
    }
}

/// Whether this deployment can run a language, and which toolchain version it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LanguageStatus {
    pub language: &'static Language,
    pub available: bool,
    /// First line of the version probe's output, when available.
    pub version: Option<String>,
}

/// Every language Gavel knows, whether or not this host has its toolchain.
pub fn catalogue() -> &'static [Language] {
    CATALOGUE
}

/// Finds a language by id or alias, case-insensitively.
pub fn find(name: &str) -> Option<&'static Language> {
    let name = name.trim();
    CATALOGUE
        .iter()
        .find(|lang| lang.id.eq_ignore_ascii_case(name) || lang.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
}

/// Finds the language whose extension the file name ends with.
pub fn for_file_name(file_name: &str) -> Option<&'static Language> {
    let (_, ext) = file_name.rsplit_once('.')?;
    CATALOGUE.iter().find(|lang| lang.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

/// The valid ids, for error messages.
pub fn ids() -> Vec<&'static str> {
    CATALOGUE.iter().map(|lang| lang.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_the_toolchain_path() {
        assert_eq!(on_toolchain_path("sh"), Some(std::path::PathBuf::from("/usr/bin/sh")));
        assert_eq!(on_toolchain_path("/bin/true"), Some(std::path::PathBuf::from("/bin/true")));
        assert_eq!(on_toolchain_path("gavel-no-such-program"), None);
    }

    #[test]
    fn finds_by_id_and_alias_case_insensitively() {
        assert_eq!(find("python").map(|l| l.id), Some("python"));
        assert_eq!(find("PY").map(|l| l.id), Some("python"));
        assert_eq!(find("c++").map(|l| l.id), Some("cpp"));
        assert_eq!(find("C#").map(|l| l.id), Some("csharp"));
        assert_eq!(find("js").map(|l| l.id), Some("javascript"));
        assert_eq!(find("cobol"), None);
    }

    #[test]
    fn names_are_unique_across_ids_and_aliases() {
        let mut names: Vec<String> = CATALOGUE
            .iter()
            .flat_map(|l| std::iter::once(l.id).chain(l.aliases.iter().copied()))
            .map(str::to_ascii_lowercase)
            .collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total, "an alias collides with another language");
    }

    #[test]
    fn maps_file_extensions() {
        assert_eq!(for_file_name("sol.cpp").map(|l| l.id), Some("cpp"));
        assert_eq!(for_file_name("a.b.PY").map(|l| l.id), Some("python"));
        assert_eq!(for_file_name("Makefile"), None);
    }

    #[test]
    fn compile_options_go_just_before_the_source_file() {
        let options = ["-DONLINE_JUDGE".to_owned(), "extra.c".to_owned()];
        let c = find("c").and_then(|c| c.compile_command(&options)).expect("c compiles");
        assert_eq!(c, ["gcc", "-std=c11", "-O2", "-pipe", "-o", "main", "-DONLINE_JUDGE", "extra.c", "main.c", "-lm"]);
        let go = find("go").and_then(|go| go.compile_command(&options[..1])).expect("go compiles");
        assert_eq!(go, ["go", "build", "-o", "main", "-DONLINE_JUDGE", "main.go"]);
        assert_eq!(find("python").and_then(|py| py.compile_command(&options)), None);
        for lang in CATALOGUE {
            let plain = lang.compile_command(&[]);
            assert_eq!(plain, lang.compile.map(|c| c.iter().map(|w| (*w).to_owned()).collect()), "{}", lang.id);
        }
    }

    #[test]
    fn compiled_languages_compile_their_source_file() {
        for lang in CATALOGUE {
            if let Some(compile) = lang.compile {
                assert!(compile.contains(&lang.source_file), "{} compiles another file", lang.id);
            }
        }
    }
}
